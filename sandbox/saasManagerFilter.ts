import { isRecord } from '../shared/guards';
/**
 * The SCIM-style `filter` subset SaaS Manager accepts, for the simulator: a tokenizer and a
 * recursive-descent parser into a small AST, and an evaluator over plain JSON.
 *
 *   filter   := or
 *   or       := and ("or" and)*
 *   and      := unary ("and" unary)*
 *   unary    := "not" unary | primary
 *   primary  := "(" filter ")" | path "[" filter "]" | path "pr" | path op value
 *   op       := eq | ne | co | sw | ew | gt | ge | lt | le
 *   value    := "string" | number | true | false | null
 *
 * Keywords and attribute names are case-insensitive and string comparisons ignore case, as in
 * SCIM (RFC 7644 §3.4.2.2). A path through an array matches when any element matches.
 */

export type CompareOperator = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type FilterValue = string | number | boolean | null;

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'compare'; path: string[]; operator: CompareOperator; value: FilterValue }
  | { kind: 'present'; path: string[] }
  | { kind: 'complex'; path: string[]; filter: FilterNode };

export class FilterSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'FilterSyntaxError';
  }
}

const OPERATORS = new Set<string>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const KEYWORDS = new Set<string>([...OPERATORS, 'pr', 'and', 'or', 'not', 'true', 'false', 'null']);
const MAX_LENGTH = 4096;
const MAX_DEPTH = 32;

// ---------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { type: 'word'; text: string; position: number }
  | { type: 'string'; value: string; position: number }
  | { type: 'number'; value: number; position: number }
  | { type: '(' | ')' | '[' | ']' | 'end'; position: number };

export function tokenize(source: string): Token[] {
  if (source.length > MAX_LENGTH)
    throw new FilterSyntaxError(`filter longer than ${MAX_LENGTH} characters`, MAX_LENGTH);
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const char = source[i] as string;
    if (/\s/.test(char)) {
      i++;
    } else if (char === '(' || char === ')' || char === '[' || char === ']') {
      tokens.push({ type: char, position: i });
      i++;
    } else if (char === '"') {
      const start = i;
      i++;
      while (i < source.length && source[i] !== '"') i += source[i] === '\\' ? 2 : 1;
      if (i >= source.length) throw new FilterSyntaxError('unterminated string', start);
      i++;
      let value: unknown;
      try {
        value = JSON.parse(source.slice(start, i));
      } catch {
        throw new FilterSyntaxError('invalid escape in string', start);
      }
      tokens.push({ type: 'string', value: value as string, position: start });
    } else if (/[-0-9]/.test(char)) {
      const match = /^-?\d+(\.\d+)?/.exec(source.slice(i));
      if (!match) throw new FilterSyntaxError(`unexpected "${char}"`, i);
      tokens.push({ type: 'number', value: Number(match[0]), position: i });
      i += match[0].length;
    } else if (/[A-Za-z_$]/.test(char)) {
      const match = /^[A-Za-z_$][A-Za-z0-9_$.:-]*/.exec(source.slice(i)) as RegExpExecArray;
      tokens.push({ type: 'word', text: match[0], position: i });
      i += match[0].length;
    } else {
      throw new FilterSyntaxError(`unexpected "${char}"`, i);
    }
  }
  tokens.push({ type: 'end', position: source.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser

export function parseFilter(source: string): FilterNode {
  const parser = new Parser(tokenize(source));
  const node = parser.filter(0);
  parser.expect('end', 'end of filter');
  return node;
}

class Parser {
  private index = 0;

  constructor(private readonly tokens: Token[]) {}

  filter(depth: number): FilterNode {
    if (depth > MAX_DEPTH) throw new FilterSyntaxError('filter nested too deeply', this.peek().position);
    let node = this.and(depth);
    while (this.isKeyword('or')) {
      this.index++;
      node = { kind: 'or', left: node, right: this.and(depth) };
    }
    return node;
  }

  private and(depth: number): FilterNode {
    let node = this.unary(depth);
    while (this.isKeyword('and')) {
      this.index++;
      node = { kind: 'and', left: node, right: this.unary(depth) };
    }
    return node;
  }

  private unary(depth: number): FilterNode {
    if (this.isKeyword('not')) {
      this.index++;
      return { kind: 'not', operand: this.unary(depth + 1) };
    }
    return this.primary(depth);
  }

  private primary(depth: number): FilterNode {
    const token = this.peek();
    if (token.type === '(') {
      this.index++;
      const inner = this.filter(depth + 1);
      this.expect(')', '")"');
      return inner;
    }
    if (token.type !== 'word' || KEYWORDS.has(token.text.toLowerCase())) {
      throw new FilterSyntaxError(`expected an attribute name, found ${describe(token)}`, token.position);
    }
    this.index++;
    const path = token.text.split('.');
    if (path.some((segment) => segment === ''))
      throw new FilterSyntaxError(`bad attribute path "${token.text}"`, token.position);

    const next = this.peek();
    if (next.type === '[') {
      this.index++;
      const inner = this.filter(depth + 1);
      this.expect(']', '"]"');
      return { kind: 'complex', path, filter: inner };
    }
    if (next.type !== 'word') {
      throw new FilterSyntaxError(
        `expected an operator after "${token.text}", found ${describe(next)}`,
        next.position,
      );
    }
    const operator = next.text.toLowerCase();
    this.index++;
    if (operator === 'pr') return { kind: 'present', path };
    if (!OPERATORS.has(operator))
      throw new FilterSyntaxError(`unknown operator "${next.text}"`, next.position);
    return { kind: 'compare', path, operator: operator as CompareOperator, value: this.value() };
  }

  private value(): FilterValue {
    const token = this.peek();
    this.index++;
    if (token.type === 'string' || token.type === 'number') return token.value;
    if (token.type === 'word') {
      const word = token.text.toLowerCase();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null') return null;
    }
    throw new FilterSyntaxError(`expected a value, found ${describe(token)}`, token.position);
  }

  expect(type: Token['type'], what: string): void {
    const token = this.peek();
    if (token.type !== type)
      throw new FilterSyntaxError(`expected ${what}, found ${describe(token)}`, token.position);
    this.index++;
  }

  private isKeyword(keyword: string): boolean {
    const token = this.peek();
    return token.type === 'word' && token.text.toLowerCase() === keyword;
  }

  private peek(): Token {
    return this.tokens[Math.min(this.index, this.tokens.length - 1)] as Token;
  }
}

function describe(token: Token): string {
  switch (token.type) {
    case 'word':
      return `"${token.text}"`;
    case 'string':
      return `the string ${JSON.stringify(token.value)}`;
    case 'number':
      return `the number ${token.value}`;
    case 'end':
      return 'the end of the filter';
    default:
      return `"${token.type}"`;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export function matchesFilter(node: FilterNode, target: unknown): boolean {
  switch (node.kind) {
    case 'and':
      return matchesFilter(node.left, target) && matchesFilter(node.right, target);
    case 'or':
      return matchesFilter(node.left, target) || matchesFilter(node.right, target);
    case 'not':
      return !matchesFilter(node.operand, target);
    case 'present':
      return resolvePath(target, node.path).some(isPresent);
    case 'complex':
      return resolvePath(target, node.path).some((item) => matchesFilter(node.filter, item));
    case 'compare': {
      const values = resolvePath(target, node.path);
      // "ne" is the negation of "eq" over all values, so an absent attribute is "ne" anything.
      if (node.operator === 'ne') return !values.some((value) => compare(value, 'eq', node.value));
      if (node.operator === 'eq' && node.value === null) return !values.some(isPresent);
      return values.some((value) => compare(value, node.operator, node.value));
    }
  }
}

/** Values at a dotted path; arrays on the way are flattened (multi-valued attributes). */
function resolvePath(target: unknown, path: string[]): unknown[] {
  let current: unknown[] = [target];
  for (const segment of path) {
    const next: unknown[] = [];
    for (const value of current) {
      if (!isRecord(value)) continue;
      const key = Object.keys(value).find((k) => k.toLowerCase() === segment.toLowerCase());
      if (key === undefined) continue;
      const child: unknown = value[key];
      if (Array.isArray(child)) next.push(...(child as unknown[]));
      else next.push(child);
    }
    current = next;
  }
  return current;
}

function compare(actual: unknown, operator: CompareOperator, expected: FilterValue): boolean {
  if (typeof actual === 'string' && typeof expected === 'string') {
    const a = actual.toLowerCase();
    const e = expected.toLowerCase();
    switch (operator) {
      case 'eq':
        return a === e;
      case 'ne':
        return a !== e;
      case 'co':
        return a.includes(e);
      case 'sw':
        return a.startsWith(e);
      case 'ew':
        return a.endsWith(e);
      case 'gt':
        return a > e;
      case 'ge':
        return a >= e;
      case 'lt':
        return a < e;
      case 'le':
        return a <= e;
    }
  }
  if (typeof actual === 'number' && typeof expected === 'number') {
    switch (operator) {
      case 'eq':
        return actual === expected;
      case 'ne':
        return actual !== expected;
      case 'gt':
        return actual > expected;
      case 'ge':
        return actual >= expected;
      case 'lt':
        return actual < expected;
      case 'le':
        return actual <= expected;
      default:
        return false;
    }
  }
  if (typeof actual === 'boolean' && typeof expected === 'boolean') {
    return operator === 'eq' ? actual === expected : operator === 'ne' ? actual !== expected : false;
  }
  return false;
}

function isPresent(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  return true;
}
