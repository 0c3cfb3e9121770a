/**
 * The address rule every person field passes (leaver, manager, run-variable people, protected
 * recipients): a plausible mailbox address with nothing PowerShell or OPATH treats specially; and
 * a safe way to quote untrusted text in a message.
 */

// Letters, marks and digits from any script (zoë.ångström@), plus the punctuation real tenants
// use in local parts (o'brien@, first+tag@). Everything PowerShell or OPATH treats specially
// ($ ` " ; | * { } ( ) and the typographic quotes) is outside this set.
const LOCAL_PART = /^[\p{L}\p{M}\p{N}_%+'-]+(\.[\p{L}\p{M}\p{N}_%+'-]+)*$/u;
const DOMAIN = /^([\p{L}\p{M}\p{N}]([\p{L}\p{M}\p{N}-]{0,61}[\p{L}\p{M}\p{N}])?\.)+[\p{L}\p{M}]{2,63}$/u;

/** Why an address is unusable, or undefined when it is a plausible mailbox address. */
export function addressProblem(address: string): string | undefined {
  if (address.length > 254) return 'is longer than 254 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(address)) return 'contains control characters';
  // Exchange's side (.NET regular expressions) sees UTF-16 halves above U+FFFF; refuse them here too,
  // so Node and PowerShell agree on every address.
  if (/[\u{10000}-\u{10FFFF}]/u.test(address))
    return 'contains characters outside the Basic Multilingual Plane';
  const at = address.indexOf('@');
  if (at < 0 || at !== address.lastIndexOf('@')) return 'must contain exactly one @';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length === 0 || local.length > 64 || !LOCAL_PART.test(local)) return 'has an invalid local part';
  if (!DOMAIN.test(domain)) return 'has an invalid domain';
  return undefined;
}

/** A short, safe rendering of untrusted text for error messages: no control characters, bounded length. */
export function quoteUntrusted(value: string): string {
  // eslint-disable-next-line no-control-regex
  const printable = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '�');
  return JSON.stringify(printable.length > 80 ? `${printable.slice(0, 80)}…` : printable);
}
