// The `fastchat` program's entry point: runs the program (program.ts). scripts/build-cli.mjs bundles
// it, with all it imports, into dist/fastchat.cjs, which the binary (bin/fastchat.cjs) runs.
import { run } from './program.js';

run(process.argv);
