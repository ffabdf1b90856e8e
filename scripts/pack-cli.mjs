// Builds the `fastllm` command line as an npm package of its own and packs it:
//   node scripts/pack-cli.mjs [--no-build] [--out DIR]   (npm run pack:cli)
//
// Why a package of its own, generated here, and not `files` in the root package.json: the root
// package is the VS Code extension (private, with vsce's fields, the extension's devDependencies and
// an install script that builds sqlite3). The CLI's package holds only what `fastllm` runs on:
// dist/cli.js, which esbuild already bundled with every dependency but the native sqlite3 addon.
// sqlite3 is an optional dependency: where it installs, the cache is an SQLite file through it;
// where it cannot (no prebuilt binary, no compiler), npm goes on without it and the cache runs on
// node:sqlite (Node 22.13+) or in memory, with one line saying so (src/core/cache/sqliteDriver.ts).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const out = resolve(outIndex >= 0 ? args[outIndex + 1] : root);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

if (!args.includes('--no-build')) execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });

const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const stage = join(root, 'dist', 'npm-cli');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
copyFileSync(join(root, 'dist', 'cli.js'), join(stage, 'cli.js'));
// The demo's sample batch (fastllm demo), found beside cli.js (src/core/demo/sample.ts).
mkdirSync(join(stage, 'samples'));
copyFileSync(join(root, 'media', 'samples', 'demo-prompts.txt'), join(stage, 'samples', 'demo-prompts.txt'));

const pkg = {
  name: 'fastllm',
  version: rootPkg.version,
  description: 'Run large batches of LLM prompts fast, cheaply and safely against any OpenAI-compatible API, with a cache that makes reruns free.',
  license: rootPkg.license,
  bin: { fastllm: 'cli.js' },
  files: ['cli.js', 'samples/', 'README.md'],
  engines: { node: '>=20' },
  optionalDependencies: { sqlite3: rootPkg.dependencies.sqlite3 },
  keywords: ['llm', 'openai', 'batch', 'cache', 'cli'],
};
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
writeFileSync(
  join(stage, 'README.md'),
  `# fastllm

Run large batches of LLM prompts fast, cheaply and safely against OpenAI or any OpenAI-compatible
server, with a cache that makes reruns free. The command line of FastLLM for VS Code.

\`\`\`sh
npm install -g ${pkg.name}-${pkg.version}.tgz   # or: npm install -g ${pkg.name}
fastllm demo                                    # the whole job against a local demo server, no key
export OPENAI_API_KEY=sk-…
fastllm run prompts.txt --model gpt-4o-mini     # writes prompts.results.jsonl
fastllm --help
\`\`\`

Needs Node.js 20 or newer. The cache is an SQLite file (\`.fastllm/cache.sqlite\`) through the
optional \`sqlite3\` dependency; where it cannot be installed, it uses Node's own \`node:sqlite\`
(Node.js 22.13 or newer), else it keeps answers in memory for the run and says so.
`,
);

mkdirSync(out, { recursive: true });
const report = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', out], { cwd: stage, encoding: 'utf8', shell: process.platform === 'win32' }));
const tarball = join(out, report[0].filename);
process.stdout.write(`${tarball}\n`);
