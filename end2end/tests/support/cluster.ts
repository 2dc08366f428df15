// Starts what an end-to-end test needs, for real: a private redis-server on
// a unix socket in a temp dir, the celadon binary on a free port, Celery
// workers from the venv scripts/setup creates, nginx in front of celadon,
// and an OpenID Connect provider to sign on with. Everything runs in its
// own process group and is killed by stop().

import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** The binary under test: CELADON_BIN, or the debug build. */
export const celadonBin =
  process.env.CELADON_BIN ?? path.join(repoRoot, 'target', 'debug', 'celadon');

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function canConnect(to: string | number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = typeof to === 'number' ? net.createConnection({ host: '127.0.0.1', port: to }) : net.createConnection(to);
    c.once('connect', () => {
      c.end();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** A port of 127.0.0.1 nothing listens on at the moment. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** How nginx passes requests on: `websocket` with the Upgrade headers,
 * `flower` as Flower's documentation configures it (no Upgrade). */
export type Proxying = 'websocket' | 'flower';

/** A person the OpenID provider knows; the login on its form is their key. */
export interface OidcUser {
  email: string;
  groups: string[];
}

/** The client celadon signs on as, as kit/src/oidc.rs names it. */
export const oidcClient = { client_id: 'celadon', client_secret: 'celadon-kit-secret' };

export class Proc {
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly log: string,
  ) {}

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  exited(timeoutMs: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not exit in ${timeoutMs} ms`)), timeoutMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Signals the main process only (a warm shutdown for a Celery worker). */
  signal(sig: NodeJS.Signals) {
    if (this.running && this.child.pid) process.kill(this.child.pid, sig);
  }

  /** SIGKILL to the whole process group. */
  killGroup() {
    if (this.child.pid) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  tail(lines = 30): string {
    const text = fs.existsSync(this.log) ? fs.readFileSync(this.log, 'utf8') : '';
    return text.split('\n').slice(-lines).join('\n');
  }
}

export class Cluster {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'celadon-e2e-'));
  readonly socket = path.join(this.dir, 'redis.sock');
  private procs: Proc[] = [];

  private start(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? this.dir,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', fd, fd],
      detached: true, // own process group, so killGroup takes its children
    });
    fs.closeSync(fd);
    const proc = new Proc(name, child, log);
    this.procs.push(proc);
    return proc;
  }

  async startRedis(): Promise<Proc> {
    const proc = this.start('redis', 'redis-server', [
      '--port', '0', '--unixsocket', this.socket, '--unixsocketperm', '700',
      '--save', '', '--appendonly', 'no', '--dir', this.dir,
    ]);
    await until('redis-server to accept connections', 10_000, async () => ((await canConnect(this.socket)) ? true : undefined));
    return proc;
  }

  /** The running celadon, if any. */
  celadon?: Proc;
  private celadonStarts = 0;

  /** Starts celadon (on a free port unless one is given) and returns its
   * base URL. */
  async startCeladon(port = 0, extra: string[] = []): Promise<string> {
    if (!fs.existsSync(celadonBin)) throw new Error(`${celadonBin} is missing: run scripts/build`);
    this.celadonStarts += 1;
    const proc = this.start(`celadon-${this.celadonStarts}`, celadonBin, [
      `--broker=unix://${this.socket}?db=0`, '--address=127.0.0.1', `--port=${port}`, ...extra,
    // The pages' controls work without a login only with the API opened,
    // as in Flower.
    ], { env: { NO_COLOR: '1', FLOWER_UNAUTHENTICATED_API: 'true' } });
    this.celadon = proc;
    const bound = await until('celadon to listen', 15_000, async () => {
      const m = proc.tail(50).match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (!proc.running) throw new Error(`celadon exited:\n${proc.tail()}`);
      return m ? m[1] : undefined;
    });
    return `http://127.0.0.1:${bound}`;
  }

  /** Stops the running celadon: SIGTERM, a clean stop (it writes what
   * history lacks first), or SIGKILL, a crash (history keeps what was
   * written before it). */
  async stopCeladon(sig: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const proc = this.celadon;
    if (!proc) return;
    if (sig === 'SIGKILL') proc.killGroup();
    else proc.signal('SIGTERM');
    await proc.exited(15_000);
    this.celadon = undefined;
  }

  /** The state the history file `db` holds for task `id` ('' if none),
   * read with the venv's Python, read-only: how a test knows what a crash
   * would keep. */
  storedState(db: string, id: string): Promise<string> {
    const python = path.join(repoRoot, '.venv', 'bin', 'python');
    const read = [
      'import sqlite3, sys',
      "c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)",
      "r = c.execute('select state from tasks where id = ?', (sys.argv[2],)).fetchone()",
      "print(r[0] if r else '')",
    ].join('\n');
    return new Promise((resolve, reject) => {
      execFile(python, ['-c', read, db, id], (error, stdout, stderr) => {
        if (error) reject(new Error(`reading ${db} failed: ${stderr}`));
        else resolve(stdout.trim());
      });
    });
  }

  /** Starts Debian's nginx in front of celadon (`upstream`, its base URL)
   * at `prefix` (`/flower`), from the configuration kit::nginx uses
   * (kit/nginx), and returns nginx's base URL, prefix included. */
  async startNginx(upstream: string, prefix: string, proxying: Proxying): Promise<string> {
    const name = `nginx-${proxying}`;
    const dir = path.join(this.dir, name);
    fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
    const port = await freePort();
    const kit = path.join(repoRoot, 'kit', 'nginx');
    const location = fs.readFileSync(path.join(kit, `${proxying}.location`), 'utf8').replace(/\n+$/, '');
    const conf = fs.readFileSync(path.join(kit, 'nginx.conf'), 'utf8')
      .replaceAll('@LOCATION@', location)
      .replaceAll('@DIR@', dir)
      .replaceAll('@PORT@', String(port))
      .replaceAll('@PREFIX@', prefix)
      .replaceAll('@UPSTREAM@', new URL(upstream).port);
    const confPath = path.join(dir, 'nginx.conf');
    fs.writeFileSync(confPath, conf);
    const args = ['-p', dir, '-c', confPath, '-e', path.join(dir, 'error.log')];
    try {
      execFileSync('/usr/sbin/nginx', ['-t', ...args], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`nginx refused ${confPath} (scripts/setup installs nginx): ${(e as { stderr?: Buffer }).stderr ?? e}`);
    }
    const proc = this.start(name, '/usr/sbin/nginx', args);
    await until('nginx to accept connections', 10_000, async () => {
      if (!proc.running) throw new Error(`nginx exited:\n${proc.tail()}`);
      return (await canConnect(port)) ? true : undefined;
    });
    return `http://127.0.0.1:${port}${prefix}`;
  }

  /** Starts the OpenID Connect provider the Rust kit starts too
   * (kit/oidc/provider.mjs: npm's oidc-provider, its development login
   * form, any password), for `users` (login → email and groups), its one
   * client (`oidcClient`) sent back only to `redirectUri`, and returns its
   * issuer. */
  async startOidc(users: Record<string, OidcUser>, redirectUri: string): Promise<string> {
    const script = path.join(repoRoot, 'kit', 'oidc', 'provider.mjs');
    const pkg = path.join(repoRoot, 'end2end', 'node_modules', 'oidc-provider');
    if (!fs.existsSync(path.join(pkg, 'lib', 'index.js'))) {
      throw new Error(`oidc-provider is not installed at ${pkg}: run scripts/setup (it runs npm ci in end2end)`);
    }
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const config = path.join(this.dir, 'oidc.json');
    fs.writeFileSync(config, JSON.stringify({
      port, issuer, ...oidcClient, redirect_uris: [redirectUri], users,
    }));
    const proc = this.start('oidc', process.execPath, [script, config], { env: { OIDC_PROVIDER_DIR: pkg } });
    await until('the OpenID provider to listen', 20_000, async () => {
      if (!proc.running) throw new Error(`the OpenID provider exited:\n${proc.tail()}`);
      return proc.tail(50).includes(`oidc-provider ready at ${issuer}`) ? true : undefined;
    });
    return issuer;
  }

  /** celadon's sign-on flags for the provider at `issuer`, with roles
   * from the groups celery-admins and celery-operators. */
  signOnFlags(issuer: string): string[] {
    return [
      '--auth-provider=oidc', `--oidc-issuer=${issuer}`,
      `--oauth2-key=${oidcClient.client_id}`, `--oauth2-secret=${oidcClient.client_secret}`,
      '--oidc-scopes=openid,email,profile,groups',
      '--roles=admin=group:celery-admins,operator=group:celery-operators',
      '--default-role=viewer', '--cookie-secret=an e2e cookie secret',
    ];
  }

  /** A free port for celadon: the provider must know celadon's redirect
   * URI before celadon, which names the provider, starts. */
  freePort(): Promise<number> {
    return freePort();
  }

  /** Sends `count` tasks through Celery itself (pytasks/drive.py) and
   * returns their ids. */
  send(
    name: string,
    opts: { args?: unknown[]; kwargs?: Record<string, unknown>; countdown?: number; queue?: string; count?: number } = {},
  ): Promise<string[]> {
    const python = path.join(repoRoot, '.venv', 'bin', 'python');
    const argv = ['drive.py', 'send', name, '--args', JSON.stringify(opts.args ?? []),
      '--kwargs', JSON.stringify(opts.kwargs ?? {}), '--count', String(opts.count ?? 1)];
    if (opts.countdown !== undefined) argv.push('--countdown', String(opts.countdown));
    if (opts.queue) argv.push('--queue', opts.queue);
    return new Promise((resolve, reject) => {
      execFile(python, argv, {
        cwd: path.join(repoRoot, 'pytasks'),
        env: { ...process.env, CELADON_BROKER: `redis+socket://${this.socket}` },
      }, (error, stdout, stderr) => {
        if (error) reject(new Error(`drive.py send ${name} failed: ${stderr}`));
        else resolve(stdout.split('\n').map((l) => l.trim()).filter((l) => l));
      });
    });
  }

  /** Starts a Celery worker named `${name}@e2e` with events on. */
  startWorker(name: string): Proc {
    const celery = path.join(repoRoot, '.venv', 'bin', 'celery');
    if (!fs.existsSync(celery)) throw new Error(`${celery} is missing: run scripts/setup`);
    return this.start(`worker-${name}`, celery, [
      '-A', 'celadon_tasks', 'worker', '-E', '-c', '1', '-l', 'info',
      '--without-mingle', '--without-gossip', '-n', `${name}@e2e`,
    ], {
      cwd: path.join(repoRoot, 'pytasks'),
      env: {
        CELADON_BROKER: `redis+socket://${this.socket}`,
        CELADON_BACKEND: `redis+socket://${this.socket}?virtual_host=1`,
        CELADON_RECORD_DIR: this.dir,
        PYTHONUNBUFFERED: '1',
      },
    });
  }

  /** Starts the demo's producer (pytasks/producer.py) at `rate` tasks/s. */
  startProducer(rate: number): Proc {
    return this.start('producer', path.join(repoRoot, '.venv', 'bin', 'python'), [
      '-u', 'producer.py', '--rate', String(rate),
    ], {
      cwd: path.join(repoRoot, 'pytasks'),
      env: {
        CELADON_BROKER: `redis+socket://${this.socket}`,
        CELADON_BACKEND: `redis+socket://${this.socket}?virtual_host=1`,
        CELADON_RECORD_DIR: this.dir,
        PYTHONUNBUFFERED: '1',
      },
    });
  }

  /** celadon's flag for the result backend the workers write to (db 1). */
  backendFlag(): string {
    return `--result-backend=unix://${this.socket}?db=1`;
  }

  /** Every log, for a failure report. */
  logs(): string {
    return this.procs.map((p) => `--- ${p.name} ---\n${p.tail()}`).join('\n');
  }

  async stop() {
    for (const p of this.procs) p.killGroup();
    await Promise.all(this.procs.map((p) => p.exited(5_000).catch(() => undefined)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
