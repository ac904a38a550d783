/**
 * Query words of `print` (MikroTik API manual, "Queries"), evaluated on one printed item:
 *   ?name        push true if the item has the property
 *   ?-name       push true if it lacks it
 *   ?name=x      (also ?=name=x) push true if its value equals x
 *   ?<name=x     push true if its value is less than x (numbers and .ids compare as numbers)
 *   ?>name=x     push true if greater
 *   ?#ops        stack operations, left to right: `!` negates the top, `&` and `|` pop two and push one, `.`
 *                pushes a copy of the top; digits are an index counted from the top (0 = top): followed by
 *                `.` they push a copy of that value, otherwise the stack becomes that value alone (a `.`
 *                after an index does nothing more)
 * An operation that needs more values than the stack holds finds it padded with true (below its values).
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
  /** Pads the stack with true until it holds `n` values. */
  const need = (n: number): void => {
    while (stack.length < n) stack.unshift(true);
  };
  const pop = (): boolean => {
    need(1);
    return stack.pop() as boolean;
  };
  for (let i = 0; i < ops.length; i++) {
    const ch = ops[i];
    if (ch >= "0" && ch <= "9") {
      let j = i;
      while (j < ops.length && ops[j] >= "0" && ops[j] <= "9") j++;
      const index = Number(ops.slice(i, j));
      need(index + 1);
      const value = stack[stack.length - 1 - index];
      if (ops[j] === ".") {
        stack.push(value);
        i = j;
      } else {
        stack.splice(0, stack.length, value);
        i = j - 1;
      }
    } else if (ch === "!") {
      stack.push(!pop());
    } else if (ch === "&" || ch === "|") {
      const b = pop();
      const a = pop();
      stack.push(ch === "&" ? a && b : a || b);
    } else if (ch === ".") {
      need(1);
      stack.push(stack[stack.length - 1]);
    }
  }
}
