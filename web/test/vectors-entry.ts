// Test-only bundle (dist/web-test/vectors.js, never served by the relay): regenerates every
// docs/vectors area with crypto/ running in the browser, so test/web.test.ts can compare the
// result byte for byte with the committed files that Node's crypto/ produced.
import { sodiumReady } from '../../crypto/index.js';
import { AREAS, render } from '../../scripts/vectors/index.js';

(globalThis as unknown as { fastchatVectors: unknown }).fastchatVectors = {
  async renderAll(): Promise<Record<string, string>> {
    await sodiumReady();
    const out: Record<string, string> = {};
    for (const area of AREAS) out[area.name] = render(area);
    return out;
  },
};
