import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Module } from '@nestjs/common';

/** How a request continues when a fast path leaves it: the web framework's own handler. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Answers a request itself, on Node's response, and returns true; or returns false and leaves
 * the request untouched. A fast path that took a request and then cannot answer it (a dependency
 * failed) gives it to `next`, which answers as usual.
 */
export type FastPath = (req: IncomingMessage, res: ServerResponse, next: RequestHandler) => boolean;

/**
 * Where a feature registers the one kind of request it answers ahead of the web framework. The
 * server asks the registered paths, in order, for every request Node has parsed and checked;
 * the server itself knows no feature. Every request still goes through Node's own HTTP parser:
 * a fast path only skips routing, guards and pipes, for reads that need none of them.
 */
@Injectable()
export class FastPaths {
  private readonly paths: FastPath[] = [];

  register(path: FastPath): void {
    this.paths.push(path);
  }

  /** True when a fast path took the request. */
  answer(req: IncomingMessage, res: ServerResponse, next: RequestHandler): boolean {
    for (const path of this.paths) if (path(req, res, next)) return true;
    return false;
  }
}

@Module({ providers: [FastPaths], exports: [FastPaths] })
export class FastPathsModule {}
