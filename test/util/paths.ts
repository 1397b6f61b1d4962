// Paths tests need, resolved from this file so they hold whether a test runs from src or dist.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The project root (this file is test/util/paths.ts, compiled to dist/test/util/paths.js). */
export const ROOT = resolve(here, here.includes(`${'/'}dist${'/'}`) ? '../../..' : '../..');
/** Third-party vectors vendored in the repository (test/vectors/README.md gives their provenance). */
export const VENDORED_VECTORS = resolve(ROOT, 'test/vectors');
/** The built CLI entry point used by end-to-end tests. */
export const FASTCHAT_BIN = resolve(ROOT, 'bin/fastchat.cjs');
