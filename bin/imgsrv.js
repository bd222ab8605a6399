#!/usr/bin/env node
// The operator CLI (src/cli), compiled by `npm run build` into dist/cli.
'use strict';
const { run, report } = require('../dist/cli/main.js');

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
