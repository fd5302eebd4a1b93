// ---- node-parse-args.js: node:util's parseArgs (Node 20's). ------------------------------------
// Command-line parsing as Node 20 does it: long options (`--name`, `--name=value`), short ones
// (`-n`, `-nvalue`, groups `-abc`), `--` ending the options, types "string" and "boolean",
// `multiple`, `short`, `default`, `strict` (unknown options, a missing or an unwanted value, a
// value that looks like an option, and positionals when not allowed are Node's TypeErrors, with
// Node's codes and messages) and `tokens`. Written for this runtime from Node's documentation and
// checked against Node 20 on generated command lines (isolate/js/test/node-parse-args.test.mjs).
// `args` defaults to process.argv past its first two entries (none in a worker).
// Lazy (the node group): the top level below defines functions only.

function parseArgsOwn(object, key) {
  return ObjectHasOwn(object, key) ? object[key] : undefined;
}

function parseArgsOptionOwn(options, name, key) {
  return ObjectHasOwn(options, name) ? parseArgsOwn(options[name], key) : undefined;
}

/** A property named with a dot is a "property" in Node's messages, else an "argument". */
function parseArgsTypeError(name, expected, value) {
  const kind = name.includes(".") ? "property" : "argument";
  return nodeError(TypeError, "ERR_INVALID_ARG_TYPE", `The "${name}" ${kind} must be ${expected}.${describeReceived(value)}`);
}

function parseArgsCheck(ok, name, expected, value) {
  if (!ok) throw parseArgsTypeError(name, expected, value);
}

/** The long name whose `short` is `letter`, or the letter itself. */
function parseArgsLongFor(letter, options) {
  const names = ObjectKeys(options);
  for (let i = 0; i < names.length; i++) {
    if (parseArgsOwn(options[names[i]], "short") === letter) return names[i];
  }
  return letter;
}

function parseArgsTokens(args, options) {
  const tokens = new List();
  // The arguments not yet read: a group's expansion (`-abc` -> -a -b -c) first, then args from
  // `pos` (each argument is read once: an expansion does not move the others).
  const expansion = new List();
  let pos = 0;
  const rest = {
    get length() { return expansion.length + (args.length - pos); },
    shift: () => (expansion.length > 0 ? expansion.shift() : args[pos++]),
    peek: () => (expansion.length > 0 ? expansion.peek() : args[pos]),
  };
  let index = -1;
  let groupCount = 0;
  const stringOption = (name) => parseArgsOptionOwn(options, name, "type") === "string";
  while (rest.length > 0) {
    const arg = rest.shift();
    const next = rest.length > 0 ? rest.peek() : undefined;
    /** An option written alone (`-f`, `--name`): its value is the next argument when it takes
     *  one; whether it took it. */
    const alone = (name, rawName) => {
      let value;
      let inlineValue;
      if (stringOption(name) && next != null) {
        value = rest.shift();
        inlineValue = false;
      }
      tokens.push({ kind: "option", name, rawName, index, value, inlineValue });
      return value != null;
    };
    if (groupCount > 0) groupCount--;
    else index++;
    if (arg === "--") {
      tokens.push({ kind: "option-terminator", index });
      while (rest.length > 0) tokens.push({ kind: "positional", index: ++index, value: rest.shift() });
      break;
    }
    const dash = arg.length >= 2 && arg[0] === "-";
    if (dash && arg.length === 2 && arg[1] !== "-") {
      // -f, and its value from the next argument when it takes one.
      if (alone(parseArgsLongFor(arg[1], options), arg)) ++index;
      continue;
    }
    if (dash && arg.length > 2 && arg[1] !== "-") {
      const name = parseArgsLongFor(arg[1], options);
      if (stringOption(name)) {
        // -fVALUE
        tokens.push({ kind: "option", name, rawName: `-${arg[1]}`, index, value: arg.slice(2), inlineValue: true });
        continue;
      }
      // -abc is -a -b -c; a string option inside takes the rest: -abfFILE is -a -b -fFILE. The
      // expansion is read before the arguments after it. It is empty here: a group comes from
      // args, since an expansion holds dashed single letters and -fVALUE only, never a group.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j];
        if (!stringOption(parseArgsLongFor(letter, options)) || j === arg.length - 1) {
          expansion.push(`-${letter}`);
        } else {
          expansion.push(`-${arg.slice(j)}`);
          break;
        }
      }
      groupCount = expansion.length;
      continue;
    }
    if (arg.length > 2 && arg.startsWith("--")) {
      // As Node: an "=" from the third character on makes it `--name=value`, split at the first "=".
      const equal = arg.includes("=", 3) ? arg.indexOf("=") : -1;
      if (equal === -1) {
        // --name, and its value from the next argument when it takes one.
        if (alone(arg.slice(2), arg)) ++index;
        continue;
      }
      const name = arg.slice(2, equal);
      tokens.push({ kind: "option", name, rawName: `--${name}`, index, value: arg.slice(equal + 1), inlineValue: true });
      continue;
    }
    tokens.push({ kind: "positional", index, value: arg });
  }
  return tokens.drain();
}

function parseArgsValueError(message) {
  return nodeError(TypeError, "ERR_PARSE_ARGS_INVALID_OPTION_VALUE", message);
}

/** strict mode's checks of one option token. */
function parseArgsStrict(options, allowPositionals, token) {
  if (!ObjectHasOwn(options, token.name)) {
    const hint = allowPositionals
      ? `. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ${JSONStringify(token.rawName)}`
      : "";
    throw nodeError(TypeError, "ERR_PARSE_ARGS_UNKNOWN_OPTION", `Unknown option '${token.rawName}'${hint}`);
  }
  const short = parseArgsOptionOwn(options, token.name, "short");
  const shortAndLong = `${short ? `-${short}, ` : ""}--${token.name}`;
  const type = parseArgsOptionOwn(options, token.name, "type");
  if (type === "string" && typeof token.value !== "string") {
    throw parseArgsValueError(`Option '${shortAndLong} <value>' argument missing`);
  }
  if (type === "boolean" && token.value != null) {
    throw parseArgsValueError(`Option '${shortAndLong}' does not take an argument`);
  }
  if (!token.inlineValue && token.value != null && token.value.length > 1 && token.value[0] === "-") {
    const example = token.rawName.startsWith("--")
      ? `'${token.rawName}=-XYZ'`
      : `'--${token.name}=-XYZ' or '${token.rawName}-XYZ'`;
    throw parseArgsValueError(`Option '${token.rawName}' argument is ambiguous.\nDid you forget to specify the option argument for '${token.rawName}'?\nTo specify an option argument starting with a dash use ${example}.`);
  }
}

function parseArgsStore(name, value, options, values) {
  if (name === "__proto__") return;
  const stored = value ?? true;
  if (parseArgsOptionOwn(options, name, "multiple")) {
    if (values[name]) ObjectDefineProperty(values[name], values[name].length, { __proto__: null, value: stored, writable: true, enumerable: true, configurable: true });
    else values[name] = [stored];
  } else {
    values[name] = stored;
  }
}

function parseArgsValidate(options) {
  const names = ObjectKeys(options);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const config = options[name];
    parseArgsCheck(config !== null && typeof config === "object", `options.${name}`, "of type object", config);
    const type = parseArgsOwn(config, "type");
    if (type !== "string" && type !== "boolean") {
      throw parseArgsTypeError(`options.${name}.type`, "one of: 'string', 'boolean'", type);
    }
    if (ObjectHasOwn(config, "short")) {
      const short = config.short;
      parseArgsCheck(typeof short === "string", `options.${name}.short`, "of type string", short);
      if (short.length !== 1) {
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE",
          `The property 'options.${name}.short' must be a single character. Received ${JSONStringify(short).replace(/^"|"$/g, "'")}`);
      }
    }
    const multiple = parseArgsOwn(config, "multiple");
    if (ObjectHasOwn(config, "multiple")) {
      parseArgsCheck(typeof multiple === "boolean", `options.${name}.multiple`, "of type boolean", multiple);
    }
    const def = parseArgsOwn(config, "default");
    if (def !== undefined) {
      const one = (v) => typeof v === type;
      const label = `options.${name}.default`;
      if (multiple) {
        parseArgsCheck(ArrayIsArray(def), label, "an instance of Array", def);
        for (let j = 0; j < def.length; j++) parseArgsCheck(one(def[j]), `${label}[${j}]`, `of type ${type}`, def[j]);
      } else {
        parseArgsCheck(one(def), label, `of type ${type}`, def);
      }
    }
  }
}

/** util.parseArgs(config). */
function parseArgs(config = {}) {
  const args = parseArgsOwn(config, "args") ?? builtinExports("node:process").argv.slice(2);
  const strict = parseArgsOwn(config, "strict") ?? true;
  const allowPositionals = parseArgsOwn(config, "allowPositionals") ?? !strict;
  const returnTokens = parseArgsOwn(config, "tokens") ?? false;
  const options = parseArgsOwn(config, "options") ?? { __proto__: null };
  parseArgsCheck(ArrayIsArray(args), "args", "an instance of Array", args);
  parseArgsCheck(typeof strict === "boolean", "strict", "of type boolean", strict);
  parseArgsCheck(typeof allowPositionals === "boolean", "allowPositionals", "of type boolean", allowPositionals);
  parseArgsCheck(typeof returnTokens === "boolean", "tokens", "of type boolean", returnTokens);
  parseArgsCheck(options !== null && typeof options === "object" && !ArrayIsArray(options), "options", "of type object", options);
  parseArgsValidate(options);

  const tokens = parseArgsTokens(args, options);
  const values = { __proto__: null };
  const positionals = new List();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.kind === "option") {
      if (strict) parseArgsStrict(options, allowPositionals, token);
      parseArgsStore(token.name, token.value, options, values);
    } else if (token.kind === "positional") {
      if (!allowPositionals) {
        throw nodeError(TypeError, "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL",
          `Unexpected argument '${token.value}'. This command does not take positional arguments`);
      }
      positionals.push(token.value);
    }
  }
  const names = ObjectKeys(options);
  for (let i = 0; i < names.length; i++) {
    const def = parseArgsOwn(options[names[i]], "default");
    if (def !== undefined && values[names[i]] === undefined && names[i] !== "__proto__") values[names[i]] = def;
  }
  const result = { values, positionals: positionals.drain() };
  if (returnTokens) result.tokens = tokens;
  return result;
}
