// Checks each .kql file given with Kusto.Language (Microsoft's parser, JavaScript build): prints "<file>: ok" or
// each error as "<file>: <message> at <offset>"; exit 1 on any.
//   node check.js a.kql b.kql                       syntax only
//   node check.js --schema appinsights-schema.json a.kql ...
//                                                   syntax + semantics against the given tables: an unknown
//                                                   table, column or function, or a type error, is an error.
global.Bridge = require('@kusto/language-service-next/bridge.min.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.min.js');
const fs = require('fs'); const path = require('path');
const args = process.argv.slice(2);
let globals = null;
if (args[0] === '--schema') {
  const schema = JSON.parse(fs.readFileSync(args[1], 'utf8'));
  args.splice(0, 2);
  const S = Kusto.Language.Symbols;
  const tables = Object.entries(schema.tables).map(([name, columns]) =>
    new S.TableSymbol.$ctor7(name, `(${columns}, ${schema.common})`, null));
  const db = new S.DatabaseSymbol.$ctor1('appinsights', tables, false);
  globals = Kusto.Language.GlobalState.Default.WithDatabase(db);
}
let bad = 0;
for (const f of args) {
  const text = fs.readFileSync(f, 'utf8');
  const code = globals ? Kusto.Language.KustoCode.ParseAndAnalyze(text, globals) : Kusto.Language.KustoCode.Parse(text);
  const diags = code.GetDiagnostics();
  let n = 0;
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    if (d.Severity !== 'Error') continue;
    console.log(`${path.basename(f)}: ${d.Message} at ${d.Start}`); bad++; n++;
  }
  if (n === 0) console.log(`${path.basename(f)}: ok`);
}
process.exit(bad ? 1 : 0);
