/**
 * Runs one of our TypeScript files in a plain `node` child process (tests only):
 *   node test/support/runTypeScript.js <file.ts> [args...]
 * Each .ts file is transpiled to CommonJS on require (no type check; jest and tsc do that), so a
 * child runs the same sources jest tests import, without a build step. Node's own type stripping
 * cannot do this: our sources use extension-less CommonJS imports.
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const ts = require('typescript');

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  inlineSourceMap: true,
};

Module._extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
  module._compile(outputText, filename);
};

const entry = process.argv[2];
if (!entry) {
  console.error('usage: node test/support/runTypeScript.js <file.ts> [args...]');
  process.exit(2);
}
process.argv.splice(1, 2, path.resolve(entry));
require(path.resolve(entry));
