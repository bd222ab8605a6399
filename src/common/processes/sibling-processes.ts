import { Injectable, Module } from '@nestjs/common';

/**
 * Word between the API processes one supervisor runs on a host (IMGSRV_HTTP_PROCESSES). A feature
 * tells its siblings of a change with `tell(topic)` and hears theirs with `on(topic, listener)`;
 * the server connects the channel in each API process it forks (src/server/http-processes.ts)
 * and knows no topic. In a process of its own, nothing is sent and nothing arrives.
 */
@Injectable()
export class SiblingProcesses {
  private send?: (topic: string) => void;
  private readonly listeners = new Map<string, (() => void)[]>();

  /** Tells the other API processes on this host (if any) that `topic` happened here. */
  tell(topic: string): void {
    this.send?.(topic);
  }

  /** Calls `listener` whenever another API process on this host tells `topic`. */
  on(topic: string, listener: () => void): void {
    const list = this.listeners.get(topic);
    if (list) list.push(listener);
    else this.listeners.set(topic, [listener]);
  }

  /** Wires the channel: how this process's word leaves it. */
  connect(send: (topic: string) => void): void {
    this.send = send;
  }

  /** Word from another process arrived. */
  heard(topic: string): void {
    for (const listener of this.listeners.get(topic) ?? []) listener();
  }
}

@Module({ providers: [SiblingProcesses], exports: [SiblingProcesses] })
export class SiblingProcessesModule {}
