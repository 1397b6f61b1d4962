// A QR code of the link address, drawn in the terminal for `fastchat device link`, so a device
// with a camera (a phone or a browser client) can read the pairing code instead of it being typed.
// The encoder is qrcode-generator (Kazuhiko Arase, MIT); client/qr.test.ts reads every drawing back
// with an independent decoder (jsQR).
import qrcode from 'qrcode-generator';

/** Light modules around the code: the standard's quiet zone is 4. */
export const QR_QUIET_ZONE = 4;

/** The modules of a QR code of `text` (byte mode, error correction M, smallest version), true = dark, with the quiet zone. */
export function qrModules(text: string): boolean[][] {
  const qr = qrcode(0, 'M');
  qr.addData(text, 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  const size = n + 2 * QR_QUIET_ZONE;
  return Array.from({ length: size }, (_, r) =>
    Array.from({ length: size }, (_, col) => {
      const [y, x] = [r - QR_QUIET_ZONE, col - QR_QUIET_ZONE];
      return y >= 0 && y < n && x >= 0 && x < n && qr.isDark(y, x);
    }),
  );
}

/**
 * Two module rows per text line with the upper half block: the foreground is the upper module,
 * the background the lower one. Colours are set explicitly (black on white), so the code reads
 * the same on a dark or a light terminal; each line resets them at its end.
 */
export function qrTerminal(text: string): string {
  const m = qrModules(text);
  const colour = (dark: boolean, layer: 'fg' | 'bg'): number => (layer === 'fg' ? (dark ? 30 : 97) : dark ? 40 : 107);
  const lines: string[] = [];
  for (let r = 0; r < m.length; r += 2) {
    let line = '';
    for (let c = 0; c < m[r]!.length; c++) {
      const top = m[r]![c]!;
      const bottom = r + 1 < m.length ? m[r + 1]![c]! : false;
      line += `\x1b[${colour(top, 'fg')};${colour(bottom, 'bg')}m▀`;
    }
    lines.push(`${line}\x1b[0m`);
  }
  return lines.join('\n');
}
