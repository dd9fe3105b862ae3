// Set-up shared by `npm start` and `npm test`, in plain JavaScript so that it runs before
// any dependency is installed: installs npm dependencies when they are missing or stale, and
// the Debian packages the project uses when they are missing and it may (root + apt-get);
// otherwise it says exactly what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** command on PATH → Debian package that provides it */
export const DEBIAN_PACKAGES = {
  influxd: 'influxdb',
  mosquitto: 'mosquitto',
  mosquitto_pub: 'mosquitto-clients',
  socat: 'socat',
  'redis-server': 'redis-server',
  chromium: 'chromium',
  'docker-compose': 'docker-compose',
};

export function onPath(cmd) {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/usr/sbin', '/usr/local/bin']);
  return dirs.some((d) => d && existsSync(join(d, cmd)));
}

function say(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

export function ensureNodeModules() {
  const lock = join(root, 'package-lock.json');
  const marker = join(root, 'node_modules', '.package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
  if (!stale) return;
  // `npm ci`: exactly the versions of package-lock.json, and it never rewrites the lock file.
  say('installing npm dependencies (npm ci, versions from package-lock.json)…');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    say('npm ci failed; see the messages above. Node.js 20 or newer and access to the npm registry are needed.');
    process.exit(1);
  }
}

/**
 * Makes sure the commands are there. Missing ones are installed with apt-get when running as
 * root; otherwise the exact command to run is printed and the process exits (or, for
 * optional commands, a warning is printed).
 */
export function ensureDebianPackages(commands, { optional = [] } = {}) {
  const missing = commands.filter((c) => !onPath(c));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((c) => DEBIAN_PACKAGES[c] ?? c))];
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && onPath('apt-get') && process.env.UG_NO_APT !== '1') {
    say(`installing Debian packages: ${pkgs.join(' ')}…`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const opts = { stdio: ['ignore', 'inherit', 'inherit'], env };
    // The package lists may be missing on a fresh machine; refresh them once.
    let r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], opts);
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], opts);
      r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], opts);
    }
    // Debian starts influxdb and mosquitto as services on install; the project runs its own.
    for (const service of ['influxdb', 'mosquitto']) {
      if (pkgs.includes(service)) spawnSync('sh', ['-c', `service ${service} stop >/dev/null 2>&1 || true`]);
    }
    if (r.status === 0) return;
  }
  const still = commands.filter((c) => !onPath(c));
  if (still.length === 0) return;
  const stillPkgs = [...new Set(still.map((c) => DEBIAN_PACKAGES[c] ?? c))];
  const required = still.filter((c) => !optional.includes(c));
  const line = `missing: ${still.join(', ')}. Install with:\n    sudo apt-get install -y ${stillPkgs.join(' ')}`;
  if (required.length > 0) {
    say(line);
    process.exit(1);
  }
  say(`${line}\n  (optional: the features that need them are skipped)`);
}

export function gitHead() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
