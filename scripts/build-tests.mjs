// Bundles the integration suite that runs inside the extension host (test/integration/index.ts and
// test/integration/suite/*.test.ts) into out/test/integration/, one file per entry, as CommonJS:
// the extension host loads `extensionTestsPath` with require(). `vscode` comes from the host;
// `mocha` stays external and resolves from this project's node_modules at run time.
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';

const suiteDir = 'test/integration/suite';
const entryPoints = [
  'test/integration/index.ts',
  ...readdirSync(suiteDir)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `${suiteDir}/${f}`),
];

rmSync('out/test/integration', { recursive: true, force: true });
await esbuild.build({
  entryPoints,
  outbase: 'test',
  outdir: 'out/test',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'inline',
  external: ['vscode', 'mocha', 'sqlite3'],
  logLevel: 'warning',
});
