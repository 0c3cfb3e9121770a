// Builds the benchmarks into .bench/ (they are not part of the shipped dist/), then runs each
// (.bench/bench/*.bench.js) one after another and prints their figures. Compiled, not transpiled on
// require, so the TypeScript compiler is not in the measured process's memory.
// Benchmarks report numbers; they never fail a build on timing.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.bench.json'], { stdio: 'inherit' });
const assets = spawnSync(process.execPath, ['scripts/copy-assets.mjs', '.bench'], { stdio: 'inherit' });
if (build.status !== 0 || assets.status !== 0) {
  console.error('could not build the benchmarks');
  process.exit(1);
}
const folder = join('.bench', 'bench');
const only = process.argv.slice(2);
const files = readdirSync(folder)
  .filter((file) => file.endsWith('.bench.js'))
  .filter((file) => only.length === 0 || only.some((name) => file.includes(name)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n### ${file.replace('.bench.js', '')}`);
  const result = spawnSync(process.execPath, ['--expose-gc', join(folder, file)], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exitCode = failed > 0 ? 1 : 0;
