import { getMetadataStorage } from 'class-validator';
import { loadConfig } from './app-config';
import { EnvSchema } from './env.schema';
import { CONFIG_REFERENCE, literalDefault } from './reference';

const schemaNames = (): string[] => [
  ...new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(EnvSchema, '', true, false)
      .map((m) => m.propertyName),
  ),
];

describe('the configuration reference', () => {
  const documented = CONFIG_REFERENCE.flatMap((e) => e.names);

  it('documents every variable of the schema once, and nothing else', () => {
    expect([...documented].sort()).toEqual(schemaNames().sort());
    expect(new Set(documented).size).toBe(documented.length);
  });

  // A stated default is right when setting the variable to it changes nothing loadConfig returns.
  const literal = CONFIG_REFERENCE.flatMap((e) =>
    e.names.map((name) => [name, literalDefault(e)] as const),
  ).filter((entry): entry is readonly [string, string] => entry[1] !== null);

  it.each(literal)('%s: the stated default %p is the one the code uses', (name, value) => {
    const cwd = '/srv/imgsrv';
    expect(loadConfig({ [name]: value }, cwd)).toEqual(loadConfig({}, cwd));
  });

  it('states a literal default for most variables', () => {
    expect(literal.length).toBeGreaterThan(documented.length / 2);
  });
});
