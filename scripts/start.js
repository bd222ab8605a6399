#!/usr/bin/env node
// `npm start`: serve on the embedded defaults from a fresh clone. Uses only Node's standard library
// so it runs before dependencies exist: installs them, builds when the sources are newer than the
// build, makes sure local PostgreSQL and Redis run, then execs `node dist/main.js serve`.
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const step = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return latest;
}

step('bash', [join(root, 'scripts', 'install-node-deps.sh'), '--if-needed']);
const main = join(root, 'dist', 'main.js');
if (!existsSync(main) || newest(join(root, 'src')) > statSync(main).mtimeMs)
  step('npm', ['run', '--silent', 'build']);

const local = (v, d) =>
  (process.env[v] ?? d).includes('127.0.0.1') || (process.env[v] ?? d).includes('localhost');
if (local('IMGSRV_DATABASE_URL', 'localhost') && local('IMGSRV_REDIS_URL', '127.0.0.1')) {
  spawnSync('bash', [join(root, 'scripts', 'ensure-services.sh')], { cwd: root, stdio: 'inherit' });
}

const child = spawn(process.execPath, [main, 'serve', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
