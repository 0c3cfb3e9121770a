/**
 * Lets plain `node` (a test child process, jest's globalSetup) require our TypeScript sources: each
 * .ts file is transpiled to CommonJS on require (no type check; jest and tsc do that). Node's own type
 * stripping cannot do this: our sources use extension-less CommonJS imports.
 */
const fs = require('node:fs');
const Module = require('node:module');
const ts = require('typescript');

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  inlineSourceMap: true,
};

if (!Module._extensions['.ts']) {
  Module._extensions['.ts'] = function compileTypeScript(module, filename) {
    const source = fs.readFileSync(filename, 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
    module._compile(outputText, filename);
  };
}
