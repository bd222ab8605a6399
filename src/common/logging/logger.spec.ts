import { createLogger, NestPinoLogger, resolveLogFormat } from './logger';

describe('logger', () => {
  it('resolves auto to text on a terminal and JSON otherwise', () => {
    expect(resolveLogFormat('auto', true)).toBe('text');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('text', false)).toBe('text');
  });

  it("keeps Nest's start-up narrative (route mappings, modules) at debug", () => {
    const lines: string[] = [];
    const out = { write: (line: string) => void lines.push(line) };
    const nest = new NestPinoLogger(createLogger({ level: 'info', format: 'json' }, out));
    nest.log('Mapped {/v1/images, GET} route', 'RouterExplorer');
    nest.warn('something to look at', 'NestApplication');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['something to look at']);
  });
});
