// `npm run bench -- ingest|connections|analytics|all [--quick]`: set-up, then the benchmarks
// in bench/ (bench/README.md). Each starts its own InfluxDB and gateway processes.
import { spawn } from 'node:child_process';
import { ensureDebianPackages, ensureNodeModules, root } from './setup.mjs';

ensureNodeModules();
ensureDebianPackages(['influxd']);
// The ingest benchmark's peer pipeline (Mosquitto → Node-RED → InfluxDB) needs the broker.
if (runsPeer(process.argv.slice(2))) ensureDebianPackages(['mosquitto']);

// Ten thousand and more connections need as many descriptors in the gateway and in the
// generator: raise the soft limit (and, as root, the hard one) for this run and its children.
const args = process.argv.slice(2).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
const script = `ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "${process.execPath}" --import tsx bench/main.ts ${args}`;
const child = spawn('sh', ['-c', script], { cwd: root, stdio: 'inherit' });
process.on('SIGINT', () => child.kill('SIGINT'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

/** Whether these arguments run the ingest benchmark with a `peer-…` configuration. */
function runsPeer(argv) {
  const which = argv.find((a) => ['ingest', 'connections', 'auth', 'analytics', 'all'].includes(a)) ?? 'all';
  if (which !== 'ingest' && which !== 'all') return false;
  const at = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  if (at < 0) return true;
  const only = argv[at].startsWith('--only=') ? argv[at].slice(7) : (argv[at + 1] ?? '');
  return only.split(',').some((x) => 'peer-qos0-x1'.startsWith(x) || 'peer-qos1-x1'.startsWith(x));
}
