import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import type { AppConfig, Env } from '../config/app-config';
import type { Logger } from '../common/logging/logger';
import { MetricsService } from '../common/metrics/metrics.service';
import { SiblingProcesses } from '../common/processes/sibling-processes';
import { startServer, type RunningServer } from './bootstrap';
import { closeGracefully, listen, urlOf } from './listeners';
import { createMetricsServer, type MetricsSource } from './metrics-server';
import { loadTlsMaterial } from './tls';

/**
 * Several API processes on one host (IMGSRV_HTTP_PROCESSES > 1). Node's HTTP stack costs more
 * per small request than one core can give at nginx's rates, and Node 20 has no reusePort, so
 * the processes share the listeners through node:cluster: the supervisor (the process operators
 * start) accepts connections and hands each to one API process in turn.
 *
 * The supervisor migrates the database and prepares the TLS certificate before it forks, serves
 * the metrics listener with the sum over its processes, passes a process's word to the others
 * (SiblingProcesses: a streams revision bump, so a change shows on every connection at once), starts a
 * process again when one dies (backing off when it keeps dying), and stops them all on SIGTERM. The worker role, when
 * configured, runs in the first API process only, so job concurrency stays as configured.
 */

/** Set by the supervisor in each API process it forks: the slot the process fills. */
export const HTTP_SLOT_ENV = 'IMGSRV_INTERNAL_HTTP_SLOT';

const READY = 'imgsrv:http-ready';
const METRICS_REQUEST = 'imgsrv:metrics-request';
const METRICS_RESPONSE = 'imgsrv:metrics-response';
/** A process's word for its siblings (SiblingProcesses); the supervisor passes it on. */
const SIBLING_WORD = 'imgsrv:sibling-word';
/** An API process that does not answer a scrape in this time is left out of that scrape. */
const METRICS_TIMEOUT_MS = 3_000;
/** A process that dies sooner than this after its start is started again after a growing delay. */
const STABLE_AFTER_MS = 30_000;
const RESTART_FIRST_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 30_000;

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];
type Message =
  | { readonly type: typeof READY; readonly urls: RunningServer['urls'] }
  | { readonly type: typeof METRICS_REQUEST; readonly id: number }
  | { readonly type: typeof SIBLING_WORD; readonly topic: string }
  | {
      readonly type: typeof METRICS_RESPONSE;
      readonly id: number;
      readonly metrics?: MetricsJson;
      readonly error?: string;
    };

function send(message: Message): void {
  // A supervisor that has just died fails the write (EPIPE); this process then stops with it.
  if (process.connected) process.send?.(message, undefined, {}, () => undefined);
}

/** The slot this process fills if it is one of a supervisor's API processes, else null. */
export function httpProcessSlot(env: Env): number | null {
  const slot = env[HTTP_SLOT_ENV];
  return cluster.isWorker && slot !== undefined && /^\d+$/.test(slot) ? Number(slot) : null;
}

/**
 * Runs this process as one of the supervisor's API processes: the API role on the shared
 * listeners, the worker role only in slot 0, no metrics listener of its own (the supervisor asks
 * for its registry instead).
 */
export async function startHttpProcess(
  config: AppConfig,
  logger: Logger,
  slot: number,
): Promise<RunningServer> {
  const server = await startServer(
    {
      ...config,
      roles: { api: true, worker: config.roles.worker && slot === 0 },
      metrics: { ...config.metrics, listen: null },
    },
    logger,
  );
  const registry = server.application.app.get(MetricsService).registry;
  const siblings = server.application.app.get(SiblingProcesses, { strict: false });
  siblings.connect((topic) => send({ type: SIBLING_WORD, topic }));
  process.on('message', (message: Message) => {
    if (message?.type === SIBLING_WORD) siblings.heard(message.topic);
    if (message?.type !== METRICS_REQUEST) return;
    registry.getMetricsAsJSON().then(
      (metrics) => send({ type: METRICS_RESPONSE, id: message.id, metrics }),
      (error: unknown) => send({ type: METRICS_RESPONSE, id: message.id, error: String(error) }),
    );
  });
  send({ type: READY, urls: server.urls });
  return {
    ...server,
    close: async () => {
      await server.close();
      // Drops the channel to the supervisor, the last thing keeping this process alive.
      if (cluster.worker?.isConnected()) cluster.worker.disconnect();
    },
  };
}

export interface Supervisor {
  /** The shared listeners, as the API processes report them, and the supervisor's metrics. */
  readonly urls: RunningServer['urls'];
  readonly tlsCertFile?: string;
  /** Stops every API process (each finishes its requests, bounded), then the metrics listener. */
  close(): Promise<void>;
}

interface Scrape {
  /** The process's answer, or (no message) word that it will not answer. */
  answered(worker: Worker, message?: Extract<Message, { type: typeof METRICS_RESPONSE }>): void;
}

/** Sends to an API process; `failed` runs if the message cannot reach it (it may have just died). */
function sendTo(worker: Worker, message: Message, failed: () => void): void {
  worker.send(message, undefined, (error: Error | null) => {
    if (error) failed();
  });
}

interface Slot {
  readonly index: number;
  worker?: Worker;
  ready: boolean;
  startedAt: number;
  /** Exits in a row, each sooner than STABLE_AFTER_MS after its start. */
  quickExits: number;
  restartTimer?: NodeJS.Timeout;
}

/**
 * Forks config.http.processes API processes and resolves once every one of them is serving;
 * fails (having stopped the rest) if one exits before that.
 */
export async function superviseHttpProcesses(
  config: AppConfig,
  logger: Logger,
): Promise<Supervisor> {
  let tlsCertFile: string | undefined;
  if (config.http.tlsListen) {
    // Once, here: the processes then all read the same generated pair.
    const tls = await loadTlsMaterial(config);
    tlsCertFile = tls.certFile;
    if (tls.generated)
      logger.info({ certFile: tls.certFile }, 'generated a self-signed TLS certificate');
  }

  const slots: Slot[] = Array.from({ length: config.http.processes }, (_, index) => ({
    index,
    ready: false,
    startedAt: 0,
    quickExits: 0,
  }));
  const registry = new Registry();
  new Gauge({
    name: 'imgsrv_http_processes',
    help: "API processes serving on this host's listeners (IMGSRV_HTTP_PROCESSES)",
    registers: [registry],
    collect() {
      this.set(slots.filter((s) => s.ready).length);
    },
  });
  const restarts = new Counter({
    name: 'imgsrv_http_process_restarts_total',
    help: 'API processes started again after one exited unexpectedly',
    registers: [registry],
  });

  let stopping = false;
  let urls: RunningServer['urls'] = {};
  let starting: { resolve(): void; reject(error: Error): void } | undefined;
  const started = new Promise<void>((resolve, reject) => (starting = { resolve, reject }));
  /** Scrapes under way: the processes each still waits for. */
  const scrapes = new Map<number, Scrape>();
  /** A process that will not answer (it died, or the message could not reach it) is left out. */
  const leaveOut = (worker: Worker) => {
    for (const scrape of scrapes.values()) scrape.answered(worker);
  };

  const fork = (slot: Slot) => {
    slot.ready = false;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [HTTP_SLOT_ENV]: String(slot.index) });
    slot.worker = worker;
    worker.on('message', (message: Message) => {
      if (message?.type === READY) {
        slot.ready = true;
        urls = message.urls;
        if (!starting)
          logger.info(
            { slot: slot.index, pid: worker.process.pid },
            'an API process is serving again',
          );
        else if (slots.every((s) => s.ready)) {
          starting.resolve();
          starting = undefined;
        }
      } else if (message?.type === METRICS_RESPONSE) {
        scrapes.get(message.id)?.answered(worker, message);
      } else if (message?.type === SIBLING_WORD) {
        for (const other of slots)
          if (other !== slot && other.worker?.isConnected())
            sendTo(other.worker, message, () => undefined);
      }
    });
    // A message to a process that has just died fails (EPIPE) before its exit is seen; every send
    // passes a callback, and this catches whatever else the channel reports: the exit handler
    // below deals with the process itself.
    worker.on('error', (error: Error) =>
      logger.warn(
        { slot: slot.index, pid: worker.process.pid, error: error.message },
        'the channel to an API process failed',
      ),
    );
    worker.on('exit', (code: number | null, signal: string | null) => {
      slot.ready = false;
      slot.worker = undefined;
      leaveOut(worker);
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (starting) {
        starting.reject(
          new Error(`API process ${slot.index} exited (${how}) before it was serving`),
        );
        starting = undefined;
        return;
      }
      restarts.inc();
      slot.quickExits = Date.now() - slot.startedAt < STABLE_AFTER_MS ? slot.quickExits + 1 : 0;
      const delayMs =
        slot.quickExits === 0
          ? 0
          : Math.min(RESTART_MAX_DELAY_MS, RESTART_FIRST_DELAY_MS * 2 ** (slot.quickExits - 1));
      logger.error(
        { slot: slot.index, pid: worker.process.pid, code, signal, restartInMs: delayMs },
        `an API process exited (${how}); starting another`,
      );
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        if (!stopping) fork(slot);
      }, delayMs);
    });
  };

  let nextScrape = 0;
  const metrics: MetricsSource = {
    contentType: registry.contentType,
    async metrics() {
      const id = nextScrape++;
      const asked = slots.flatMap((s) => (s.ready && s.worker?.isConnected() ? [s.worker] : []));
      const answers = await new Promise<MetricsJson[]>((resolve) => {
        const got = new Map<Worker, MetricsJson>();
        const waiting = new Set(asked);
        // In slot order, not the order they came in: a gauge aggregated as "first" (each process
        // reads the same database, at its own moments) then comes from the same process each time.
        const finish = () => {
          clearTimeout(timer);
          scrapes.delete(id);
          resolve(asked.flatMap((w) => (got.has(w) ? [got.get(w) as MetricsJson] : [])));
        };
        const timer = setTimeout(() => {
          logger.warn(
            { missing: waiting.size },
            'API processes did not answer a metrics scrape in time',
          );
          finish();
        }, METRICS_TIMEOUT_MS);
        scrapes.set(id, {
          answered(worker, message) {
            if (!waiting.delete(worker)) return;
            if (message?.metrics) got.set(worker, message.metrics);
            else if (message)
              logger.warn({ error: message.error }, 'an API process could not read its metrics');
            if (waiting.size === 0) finish();
          },
        });
        if (waiting.size === 0) finish();
        for (const worker of asked)
          sendTo(worker, { type: METRICS_REQUEST, id }, () => scrapes.get(id)?.answered(worker));
      });
      return Registry.merge([AggregatorRegistry.aggregate(answers), registry]).metrics();
    },
  };

  const stopAll = async () => {
    stopping = true;
    for (const slot of slots) clearTimeout(slot.restartTimer);
    const live = slots.flatMap((s) => (s.worker ? [s.worker] : []));
    await Promise.all(
      live.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => {
              logger.warn(
                { pid: worker.process.pid },
                'an API process did not stop in time; killing it',
              );
              worker.process.kill('SIGKILL');
            }, config.shutdownTimeoutMs + 5_000);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  };

  const servers: Server[] = [];
  let metricsUrl: string | undefined;
  try {
    if (config.metrics.listen) {
      const server = createMetricsServer(metrics);
      metricsUrl = `${urlOf('http', await listen(server, config.metrics.listen))}/metrics`;
      servers.push(server);
    }
    for (const slot of slots) fork(slot);
    await started;
  } catch (error) {
    await stopAll();
    await closeGracefully(servers, 0);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    urls: { ...urls, ...(metricsUrl ? { metrics: metricsUrl } : {}) },
    tlsCertFile,
    close: () =>
      (closing ??= (async () => {
        await stopAll();
        await closeGracefully(servers, config.shutdownTimeoutMs);
      })()),
  };
}
