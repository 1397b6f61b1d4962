// Refusals about a contact's identity key: all exit 4 (untrusted), nothing is sent.
import { CliError, EXIT } from '../errors.js';

export class UntrustedIdentity extends CliError {
  constructor(peer: string) {
    super('identity_changed', `the identity key of @${peer} has changed; nothing is sent to @${peer} until you verify it`, {
      exitCode: EXIT.untrusted,
      hint: `compare the safety number (\`fastchat fingerprint @${peer}\`) with ${peer} out of band, then run \`fastchat verify @${peer} --accept <safety number>\` (or \`--reject\`)`,
    });
  }
}

/** The relay serves (or a first message carries) a key the user rejected for this contact. */
export class RejectedIdentity extends CliError {
  constructor(peer: string) {
    super('identity_rejected', `the relay serves an identity key (or account key) for @${peer} that you rejected; nothing is sent to @${peer}`, {
      exitCode: EXIT.untrusted,
      hint: `if ${peer} really has a new key, compare the safety number (\`fastchat fingerprint @${peer}\`) and run \`fastchat verify @${peer} --accept <safety number>\``,
    });
  }
}

/** A session that disagrees with the pinned identity: never used to encrypt. */
export class SessionMismatch extends CliError {
  constructor(peer: string, device: number) {
    super('session_mismatch', `the session with @${peer} (device ${device}) was made with another identity key than the one you trust for @${peer}; nothing is sent`, {
      exitCode: EXIT.untrusted,
      hint: `compare the safety number (\`fastchat fingerprint @${peer}\`), then run \`fastchat verify @${peer} --accept <safety number>\` (it drops sessions made with other keys)`,
    });
  }
}
