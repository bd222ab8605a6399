#!/usr/bin/env node
// The operator CLI (cli/src), compiled by `npm run build` (or this package's own build) into
// cli/dist.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'cli', 'src', 'main.js');
if (!existsSync(main)) {
  process.stderr.write(
    "imgsrv: the CLI is not built (cli/dist is missing): run 'npm run build' first\n",
  );
  process.exit(1);
}
const { run, report } = require(main);

const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
const argv = process.argv.slice(2);
run(argv, io).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.exitCode = report(error, io, argv.includes('--json'));
  },
);
