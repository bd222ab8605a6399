import { escapeHtml, html, query } from './html';

describe('html', () => {
  it('escapes every interpolated text, and only that', () => {
    const name = `<script>alert("x")</script>&'`;
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">' +
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>',
    );
  });

  it('keeps nested html, joins arrays and drops null, undefined and false', () => {
    const items = ['a<', 'b'].map((x) => html`<li>${x}</li>`);
    const rendered = html`<ul>
      ${items}${null}${undefined}${false}${0}
    </ul>`.value;
    expect(rendered.replace(/\s+/g, '')).toBe('<ul><li>a&lt;</li><li>b</li>0</ul>');
  });

  it('escapes the five characters that matter in text and attributes', () => {
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  it('builds query strings from the values that are set', () => {
    expect(query({ q: 'a b&c', os: undefined, alias: '' })).toBe('?q=a+b%26c');
    expect(query({})).toBe('');
  });
});
