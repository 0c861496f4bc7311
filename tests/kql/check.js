// Syntax-checks each .kql file given (Kusto.Language parse, no schema): prints "<file>: ok" or each diagnostic; exit 1 on any.
global.Bridge = require('@kusto/language-service-next/bridge.min.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.min.js');
const fs = require('fs'); const path = require('path');
let bad = 0;
for (const f of process.argv.slice(2)) {
  const text = fs.readFileSync(f, 'utf8');
  const code = Kusto.Language.KustoCode.Parse(text);
  const diags = code.GetDiagnostics();
  const n = diags.Count;
  for (let i = 0; i < n; i++) { const d = diags.getItem(i); console.log(`${path.basename(f)}: ${d.Message} at ${d.Start}`); bad++; }
  if (n === 0) console.log(`${path.basename(f)}: ok`);
}
process.exit(bad ? 1 : 0);
