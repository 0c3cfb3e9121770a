// tsc only emits .js: the PowerShell module ships next to the adapter that loads it, and the
// sandbox's stub Exchange module next to the stub tenant that copies it.
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

// The output folder is dist/ (the build) unless named (the benchmarks' own build, .bench/).
const outDir = process.argv[2] ?? 'dist';
const assets = [
  'shared/exchange/ExoActions.psm1',
  'shared/exchange/ExoCatalogue.ps1',
  'shared/exchange/ExoUndo.ps1',
  'sandbox/modules',
];
for (const asset of assets) {
  const target = `${outDir}/${asset}`;
  rmSync(target, { recursive: true, force: true });
  mkdirSync(dirname(target), { recursive: true });
  cpSync(asset, target, { recursive: true });
}
