/**
 * Runs one of our TypeScript files in a plain `node` child process (tests only):
 *   node test/support/runTypeScript.js <file.ts> [args...]
 * so a child runs the same sources jest tests import, without a build step.
 */
const path = require('node:path');
require('./registerTypeScript');

const entry = process.argv[2];
if (!entry) {
  console.error('usage: node test/support/runTypeScript.js <file.ts> [args...]');
  process.exit(2);
}
process.argv.splice(1, 2, path.resolve(entry));
require(path.resolve(entry));
