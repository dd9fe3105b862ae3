// `npm test`: set-up, one InfluxDB for the whole run, then every test file under node's
// test runner. Pass file paths or a folder to run a part: `npm test -- gateway/spool`.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureDebianPackages, ensureNodeModules, root } from './setup.mjs';

ensureNodeModules();
// chromium drives the trigger inbox test; docker-compose checks the compose file.
ensureDebianPackages(['influxd', 'mosquitto_pub', 'socat', 'redis-server', 'chromium', 'docker-compose']);

const SKIP = new Set(['node_modules', '.git', 'data', '.local', 'test-artifacts']);
function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const args = process.argv.slice(2);
const files = (args.length > 0 ? args.flatMap((a) => (statSync(join(root, a)).isDirectory() ? findTests(join(root, a)) : [a])) : findTests(root)).sort();
if (files.length === 0) {
  process.stderr.write('no test files found\n');
  process.exit(1);
}

const { register } = await import('tsx/esm/api');
register();
const { startLocalInflux } = await import('../test/harness/influx-local.ts');

// One influxd for the run, started only when a selected test file reaches the harness that
// talks to InfluxDB (pure tests, e.g. of the policy or the ACL, run without one).
const { importsOf, sourceFiles } = await import('../test/harness/import-graph.ts');
const edges = importsOf(root, sourceFiles(root));
const next = new Map();
for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
function reaches(file, target, seen = new Set()) {
  if (file === target) return true;
  if (seen.has(file)) return false;
  seen.add(file);
  return (next.get(file) ?? []).some((f) => reaches(f, target, seen));
}
const needsInflux = files.some((f) => reaches(f.split('\\').join('/'), 'test/harness/influx.ts'));

let influx;
const env = { ...process.env };
if (!needsInflux) {
  process.stderr.write('[test] no InfluxDB needed by these files\n');
} else if (!process.env.INFLUX_URL) {
  influx = await startLocalInflux();
  env.UG_TEST_INFLUX_URL = influx.url;
  process.stderr.write(`[test] InfluxDB ${influx.url} (throwaway data dir)\n`);
} else {
  process.stderr.write(`[test] InfluxDB ${process.env.INFLUX_URL} (INFLUX_URL)\n`);
}
process.stderr.write(`[test] ${files.length} test files\n`);

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files], { cwd: root, env, stdio: 'inherit' });
const stop = async () => { await influx?.stop(); };
process.on('SIGINT', () => child.kill('SIGINT'));
child.on('exit', async (code, signal) => {
  await stop();
  process.exit(code ?? (signal ? 1 : 0));
});
