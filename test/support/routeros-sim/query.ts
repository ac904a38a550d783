/**
 * Query words of `print` (MikroTik API manual, "Queries"), evaluated on one printed item:
 *   ?name        push true if the item has the property
 *   ?-name       push true if it lacks it
 *   ?name=x      (also ?=name=x) push true if its value equals x
 *   ?<name=x     push true if its value is less than x (numbers and .ids compare as numbers)
 *   ?>name=x     push true if greater
 *   ?#ops        stack operations, left to right: `!` negate top, `&` and `|` pop two push one, `.` push a copy
 *                of the top, digits (optionally followed by `.`) push a copy of the value at that index
 *                (0 = bottom)
 * The item matches when every value left on the stack is true (an empty stack matches).
 * A property the menu does not have is simply absent: `?routing-mark=x` on a v7 route matches nothing.
 */
export function evaluateQuery(
  queries: readonly string[],
  item: Readonly<Record<string, string>>,
  /** Normalise a query value the way the property's type would (`?disabled=no` equals "false"). */
  normalise: (prop: string, raw: string) => string = (_p, raw) => raw,
): boolean {
  const stack: boolean[] = [];
  const has = (prop: string): boolean => Object.prototype.hasOwnProperty.call(item, prop);
  const compare = (a: string, b: string): number => {
    const ids = [a, b].map((x) => (/^\*[0-9a-fA-F]+$/.test(x) ? parseInt(x.slice(1), 16) : NaN));
    if (!ids.some(Number.isNaN)) return ids[0] - ids[1];
    const na = Number(a);
    const nb = Number(b);
    if (a.trim() !== "" && b.trim() !== "" && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
    return a < b ? -1 : a > b ? 1 : 0;
  };
  for (const q of queries) {
    if (q.startsWith("#")) {
      applyOps(q.slice(1), stack);
      continue;
    }
    if (q.startsWith("-")) {
      stack.push(!has(q.slice(1)));
      continue;
    }
    const op = q[0] === "<" || q[0] === ">" || q[0] === "=" ? q[0] : "";
    const body = op ? q.slice(1) : q;
    const eq = body.indexOf("=");
    if (eq === -1) {
      stack.push(op === "" ? has(body) : false);
      continue;
    }
    const prop = body.slice(0, eq);
    const value = normalise(prop, body.slice(eq + 1));
    if (!has(prop)) {
      stack.push(false);
      continue;
    }
    const c = compare(item[prop], value);
    stack.push(op === "<" ? c < 0 : op === ">" ? c > 0 : item[prop] === value);
  }
  return stack.every(Boolean);
}

function applyOps(ops: string, stack: boolean[]): void {
  const pop = (): boolean => stack.pop() ?? false;
  for (let i = 0; i < ops.length; i++) {
    const ch = ops[i];
    if (ch >= "0" && ch <= "9") {
      let j = i;
      while (j < ops.length && ops[j] >= "0" && ops[j] <= "9") j++;
      stack.push(stack[Number(ops.slice(i, j))] ?? false);
      i = ops[j] === "." ? j : j - 1;
    } else if (ch === "!") {
      stack.push(!pop());
    } else if (ch === "&" || ch === "|") {
      const b = pop();
      const a = pop();
      stack.push(ch === "&" ? a && b : a || b);
    } else if (ch === ".") {
      stack.push(stack[stack.length - 1] ?? false);
    }
  }
}
