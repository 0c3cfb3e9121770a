// tsc only emits .js; the PowerShell module ships next to the adapter that loads it.
import { cpSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const assets = ['shared/exchange/ExoActions.psm1', 'shared/exchange/ExoCatalogue.ps1'];
for (const asset of assets) {
  const target = `dist/${asset}`;
  mkdirSync(dirname(target), { recursive: true });
  cpSync(asset, target);
}
