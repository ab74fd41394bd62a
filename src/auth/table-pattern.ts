/**
 * Table-name patterns of a scoped grant: `*` matches any run of characters,
 * `?` one character, everything else itself. Table names are letters,
 * digits, '.', '_' and '-' (validate.ts), so no other syntax is needed.
 */
const PATTERN_SYNTAX = /^[A-Za-z0-9._*?-]{1,64}$/;

export function isTablePattern(text: string): boolean {
  return PATTERN_SYNTAX.test(text);
}

export function compileTablePattern(pattern: string): RegExp {
  const body = pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}
