/**
 * A minimal Mustache subset for the email templates (files under templates/email/):
 * `{{name}}` (HTML-escaped in HTML mode), `{{#name}}…{{/name}}` (a list repeats, a truthy value
 * shows once, with the item as context), `{{^name}}…{{/name}}` (shown when empty or false).
 * A section tag alone on its line takes its line with it. An unknown name is an error, not a blank.
 */
export type TemplateValue = string | number | boolean | null | undefined | TemplateContext | TemplateContext[];
export interface TemplateContext {
  [key: string]: TemplateValue;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

type Node = { kind: 'text'; text: string } | { kind: 'var'; name: string } | { kind: 'section'; name: string; inverted: boolean; children: Node[] };

function parse(template: string): Node[] {
  const standalone = template.replace(/^[ \t]*(\{\{[#^/]\w+\}\})[ \t]*\r?\n/gm, '$1');
  const root: Node[] = [];
  const stack: { name: string; children: Node[] }[] = [{ name: '', children: root }];
  const re = /\{\{([#^/]?)\s*(\w+)\s*\}\}/g;
  let last = 0;
  for (let m = re.exec(standalone); m; m = re.exec(standalone)) {
    const top = stack.at(-1) as { name: string; children: Node[] };
    if (m.index > last) top.children.push({ kind: 'text', text: standalone.slice(last, m.index) });
    last = m.index + m[0].length;
    const [, sigil, name = ''] = m;
    if (sigil === '#' || sigil === '^') {
      const node: Node = { kind: 'section', name, inverted: sigil === '^', children: [] };
      top.children.push(node);
      stack.push({ name, children: node.children });
    } else if (sigil === '/') {
      if (top.name !== name) throw new Error(`template: {{/${name}}} closes {{#${top.name}}}`);
      stack.pop();
    } else {
      top.children.push({ kind: 'var', name });
    }
  }
  if (stack.length !== 1) throw new Error(`template: {{#${stack.at(-1)?.name}}} is never closed`);
  if (last < standalone.length) root.push({ kind: 'text', text: standalone.slice(last) });
  return root;
}

function lookup(contexts: readonly TemplateContext[], name: string): TemplateValue {
  for (let i = contexts.length - 1; i >= 0; i--) {
    const c = contexts[i] as TemplateContext;
    if (Object.hasOwn(c, name)) return c[name];
  }
  throw new Error(`template: no value for {{${name}}}`);
}

function renderNodes(nodes: readonly Node[], contexts: TemplateContext[], html: boolean): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'var') {
      const v = lookup(contexts, n.name);
      const s = v === null || v === undefined || v === false ? '' : typeof v === 'object' ? '' : String(v);
      out += html ? escapeHtml(s) : s;
    } else {
      const v = lookup(contexts, n.name);
      const empty = v === null || v === undefined || v === false || v === '' || v === 0 || (Array.isArray(v) && v.length === 0);
      if (n.inverted) {
        if (empty) out += renderNodes(n.children, contexts, html);
      } else if (Array.isArray(v)) {
        for (const item of v) out += renderNodes(n.children, [...contexts, item], html);
      } else if (!empty) {
        out += renderNodes(n.children, typeof v === 'object' && v !== null ? [...contexts, v] : contexts, html);
      }
    }
  }
  return out;
}

const cache = new Map<string, Node[]>();

export function renderTemplate(template: string, context: TemplateContext, mode: 'html' | 'text'): string {
  let nodes = cache.get(template);
  if (!nodes) {
    nodes = parse(template);
    cache.set(template, nodes);
  }
  return renderNodes(nodes, [context], mode === 'html');
}
