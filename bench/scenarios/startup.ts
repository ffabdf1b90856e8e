/**
 * Scenario 6: extension start-up. dist/extension.js is loaded in a fresh Node process with a stub
 * of the `vscode` module (bench/support/startupChild.cjs) and activate() is called, as VS Code's
 * extension host would. Reports the time in activate(), the bundle's size and what it contains,
 * the modules loaded by activation, and what the first use (loading the engine) costs.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { barRow, infoRow, type Row, type ScenarioResult } from '../support/report';
import { fmt } from '../support/measure';

export interface StartupOptions {
  runs: number;
}

const NAME = '6 start-up';
const ROOT = resolve(__dirname, '../..');
const EXTENSION = join(ROOT, 'dist/extension.js');
/** Packages that must not be part of activation: the engine's heavy dependencies. */
const HEAVY = ['openai', 'sqlite3', '@keyv/sqlite', 'keyv', 'gpt-tokenizer', 'p-queue'];

interface ChildOut {
  requireMs: number;
  activateMs: number;
  processMs: number;
  loadedModules: string[];
  subscriptions: number;
  engineLoadedAfterActivate: boolean | null;
  unstubbed: string[];
  firstCacheUseMs?: number;
  loadedAfterFirstUse?: string[];
  firstUseError?: string;
}

/** The npm packages bundled into a file, from its source map (or esbuild's `// node_modules/…` comments). */
function bundledPackages(file: string): string[] {
  let sources: string[];
  if (existsSync(`${file}.map`)) {
    sources = (JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] }).sources;
  } else {
    sources = [...readFileSync(file, 'utf8').matchAll(/^\/\/ (\S*node_modules\/\S+)/gm)].map((m) => m[1]!);
  }
  const pkgs = new Set<string>();
  for (const s of sources) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(s);
    if (m) pkgs.add(m[1]!);
  }
  return [...pkgs].sort();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kb = (bytes: number) => `${fmt(bytes / 1024, 1)} KB`;

export async function startup(o: StartupOptions, log: (s: string) => void): Promise<ScenarioResult> {
  if (!existsSync(EXTENSION)) {
    return { rows: [infoRow(NAME, 'activate()', 'not run: dist/extension.js missing (npm run build)')], notes: [] };
  }
  const rows: Row[] = [];
  const notes: string[] = [];
  const outs: ChildOut[] = [];
  for (let i = 0; i < o.runs; i++) {
    const storage = await mkdtemp(join(tmpdir(), 'fastllm-bench-ext-'));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [join(__dirname, '../support/startupChild.cjs'), EXTENSION, storage], {
        cwd: ROOT,
      });
      outs.push(JSON.parse(stdout.trim().split('\n').pop()!) as ChildOut);
    } finally {
      await rm(storage, { recursive: true, force: true });
    }
  }
  const activate = median(outs.map((x) => x.activateMs));
  const load = median(outs.map((x) => x.requireMs));
  const first = outs[0]!;
  const size = statSync(EXTENSION).size;
  const packages = bundledPackages(EXTENSION);
  const heavyBundled = packages.filter((p) => HEAVY.includes(p));
  const heavyLoaded = first.loadedModules.filter((m) => HEAVY.some((h) => m.includes(`node_modules/${h}/`)) || /engine\.js$/.test(m));
  log(`  activate() ${fmt(activate)} ms (median of ${o.runs}), require ${fmt(load)} ms, dist/extension.js ${kb(size)}`);
  log(`  modules loaded by activation: ${first.loadedModules.join(', ') || '(none)'}; engine loaded: ${first.engineLoadedAfterActivate}`);

  rows.push(barRow(NAME, `activate() (median of ${o.runs} fresh processes)`, activate, '<', 50, (x) => `${fmt(x)} ms`));
  rows.push(infoRow(NAME, 'require(dist/extension.js)', `${fmt(load)} ms`));
  rows.push(infoRow(NAME, 'dist/extension.js size', kb(size)));
  // The probe must be able to see the engine load, or "none" means nothing: activation's own
  // bundle is among the modules it saw, the extension answered engineLoaded() (false), and after
  // the first use the engine bundle shows up among the loaded modules.
  const probeWorks = {
    'dist/extension.js seen': first.loadedModules.some((m) => m.endsWith('dist/extension.js')),
    'engineLoaded() answered': first.engineLoadedAfterActivate !== null,
    'engine seen after first use': (first.loadedAfterFirstUse ?? []).some((m) => /engine\.js$/.test(m)),
  };
  const blind = Object.entries(probeWorks).filter(([, ok]) => !ok).map(([what]) => what.replace(/ (seen|answered)/, ' not $1'));
  rows.push({
    scenario: NAME,
    measure: 'heavy modules loaded or bundled before first use',
    value: blind.length ? `probe blind: ${blind.join('; ')}` : [...heavyBundled, ...heavyLoaded].join(', ') || 'none',
    bar: 'none',
    pass: blind.length === 0 && heavyBundled.length === 0 && heavyLoaded.length === 0 && first.engineLoadedAfterActivate === false,
  });
  const engine = join(ROOT, 'dist/engine.js');
  if (existsSync(engine)) rows.push(infoRow(NAME, 'dist/engine.js size (loaded on first use)', kb(statSync(engine).size)));
  if (first.firstCacheUseMs !== undefined) {
    rows.push(infoRow(NAME, 'first use (load engine, open cache)', `${fmt(median(outs.map((x) => x.firstCacheUseMs ?? NaN)))} ms`));
  } else if (first.firstUseError) {
    notes.push(`Start-up: the first-use probe (api.cacheCount()) failed: ${first.firstUseError}`);
  }
  notes.push(
    `Start-up: ${o.runs} fresh \`node\` processes each load dist/extension.js with a stub \`vscode\` module and call ` +
      `activate(); modules loaded by activation: ${first.loadedModules.map((m) => `\`${m}\``).join(', ') || 'none'}; ` +
      `npm packages bundled in dist/extension.js: ${packages.join(', ') || 'none'}.` +
      (first.loadedAfterFirstUse ? ` After the first cache use: ${first.loadedAfterFirstUse.map((m) => `\`${m}\``).join(', ')}.` : '') +
      (first.unstubbed.length ? ` vscode API reached through the generic stub: ${first.unstubbed.join(', ')}.` : ''),
  );
  return { rows, notes };
}
