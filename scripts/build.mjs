// Bundles the extension host and the CLI with esbuild. `vscode` is provided by VS Code; `sqlite3`
// is a native addon that must stay a real file on disk, so both stay external.
import * as esbuild from 'esbuild';
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'sqlite3'],
  logLevel: 'warning',
};

const TOKENIZER = createRequire(import.meta.url).resolve('gpt-tokenizer/encoding/o200k_base');
const tokenizerApart = {
  name: 'tokenizer-apart',
  setup(build) {
    build.onResolve({ filter: /^gpt-tokenizer\/encoding\/o200k_base$/ }, () => ({ path: './tokenizer.js', external: true }));
  },
};

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' },
  // The heavy half of the extension (engine, openai SDK, sqlite3 glue, tokenizer), loaded by
  // src/vscode/engine.ts with require() on first use so that activation stays cheap.
  { ...common, entryPoints: ['src/vscode/lazy/index.ts'], outfile: 'dist/engine.js', plugins: [tokenizerApart] },
  // The tokenizer's tables are half the engine's code and only exact token counts (a TPM limit)
  // need them: their own file, which dist/engine.js requires on the first count.
  { ...common, entryPoints: [TOKENIZER], outfile: 'dist/tokenizer.js' },
  // Webview page scripts and their stylesheet: the only files the webviews may load.
  {
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    entryPoints: ['media/stats.ts', 'media/cacheBrowser.ts', 'media/compare.ts', 'media/results.ts', 'media/webview.css', 'media/compare.css', 'media/results.css'],
    outdir: 'dist/media',
  },
  {
    ...common,
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
  },
];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  chmodSync('dist/cli.js', 0o755);
}
