// The `fastchat` binary's entry point (bin/fastchat.js imports it): runs the program (program.ts).
import { run } from './program.js';

run(process.argv);
