#!/usr/bin/env node
// Writes the README's configuration table from src/config/reference.ts (built into dist/):
// `npm run config:docs`. With --check, writes nothing and fails when the README differs (CI).
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const prettier = require('prettier');

const root = join(__dirname, '..');
const BEGIN =
  '<!-- configuration table: generated from src/config/reference.ts by `npm run config:docs` -->';
const END = '<!-- end of the generated configuration table -->';

async function main() {
  const { CONFIG_REFERENCE } = require(join(root, 'dist', 'config', 'reference.js'));
  const rows = CONFIG_REFERENCE.map(
    (e) => `| ${e.names.map((n) => `\`${n}\``).join(', ')} | ${e.default} | ${e.meaning} |`,
  );
  const table = ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
  const readmePath = join(root, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${BEGIN} … ${END} block`);
  const generated = `${readme.slice(0, start + BEGIN.length)}\n\n${table}\n\n${readme.slice(end)}`;
  const options = (await prettier.resolveConfig(readmePath)) ?? {};
  const formatted = await prettier.format(generated, { ...options, filepath: readmePath });
  if (process.argv.includes('--check')) {
    if (formatted !== readme) {
      console.error(
        "README.md's configuration table is not what src/config/reference.ts generates: run 'npm run config:docs' and commit the result",
      );
      process.exit(1);
    }
    console.log("README.md's configuration table is up to date");
    return;
  }
  writeFileSync(readmePath, formatted);
  console.log('wrote the configuration table of README.md');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
