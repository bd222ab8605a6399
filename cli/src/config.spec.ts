import { configPath, resolveConnection } from './config';

describe('resolveConnection', () => {
  const file = { url: 'https://file.example', token: 'file-token', ca_file: '/file/ca.pem' };

  it('prefers flags, then the environment, then the config file', () => {
    expect(resolveConnection({}, {}, file)).toEqual({
      url: 'https://file.example',
      token: 'file-token',
      caFile: '/file/ca.pem',
    });
    expect(
      resolveConnection({}, { IMGSRV_URL: 'https://env.example/', IMGSRV_TOKEN: 'env' }, file),
    ).toMatchObject({ url: 'https://env.example', token: 'env' });
    expect(
      resolveConnection(
        { url: 'http://flag.example', token: 'flag' },
        { IMGSRV_TOKEN: 'env' },
        file,
      ),
    ).toMatchObject({ url: 'http://flag.example', token: 'flag', caFile: '/file/ca.pem' });
  });

  it('refuses a missing or non-http URL as a usage error', () => {
    expect(() => resolveConnection({}, {}, {})).toThrow(/no server/);
    expect(() => resolveConnection({ url: 'ftp://x' }, {}, {})).toThrow(/http/);
  });
});

describe('configPath', () => {
  it('honours IMGSRV_CONFIG, then XDG_CONFIG_HOME, then HOME', () => {
    expect(configPath({ IMGSRV_CONFIG: '/a/c.json' })).toBe('/a/c.json');
    expect(configPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/imgsrv/config.json');
    expect(configPath({ HOME: '/h' })).toBe('/h/.config/imgsrv/config.json');
  });
});
