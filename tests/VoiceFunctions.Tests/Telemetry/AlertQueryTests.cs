using System.Globalization;
using System.Text.Json.Nodes;
using VoiceFunctions.Tests.Infrastructure;

namespace VoiceFunctions.Tests.Telemetry;

/// <summary>
/// Issue 19, item 2: the alert queries count what they claim in a resource the Functions host writes to as well.
/// No KQL engine runs offline (Kusto.Language only parses and analyses), so the two counting alerts are evaluated here
/// by <see cref="MiniKql"/>, which understands exactly the operators they use and refuses anything else, over
/// tests/kql/host-and-worker-rows.json: host and worker rows as each really writes them (sources in the fixture).
/// </summary>
public sealed class AlertQueryTests
{
    private static readonly JsonObject Rows = JsonNode.Parse(File.ReadAllText(Path.Combine(Repository.Root, "tests", "kql", "host-and-worker-rows.json")))!.AsObject();

    [Fact]
    public void Storage_failures_are_failed_table_operations_and_unstored_steps_not_blob_leases_model_calls_or_http_tries()
    {
        // One failed Table operation (its two failed HTTP tries are not more failures) + one step not stored.
        Assert.Equal(2L, Evaluate("alert-storage-failures.kql", "failures"));
    }

    [Fact]
    public void Server_errors_count_once_per_request_whether_the_host_the_worker_or_both_wrote_a_row()
    {
        // The 500 both wrote (one operation) and the host's row for the worker that died.
        Assert.Equal(2L, Evaluate("alert-webhook-5xx.kql", "errors"));
    }

    [Fact]
    public void Poisoned_notes_are_the_sum_of_the_poison_counter_not_failed_notes_nor_the_hosts_function_counts()
    {
        // Two export intervals of the worker's counter (2 + 1); notes written as failed, the poison function's
        // invocation counts and its own log line do not count.
        Assert.Equal(3.0, Evaluate("alert-notes-poisoned.kql", "poisoned"));
    }

    [Fact]
    public void The_evaluator_refuses_what_it_does_not_understand()
    {
        Assert.Throws<NotSupportedException>(() => MiniKql.Run("requests | extend x = 1 | summarize n = count()", Rows));
        Assert.Throws<NotSupportedException>(() => MiniKql.Run("requests | where name has \"events\" | summarize n = count()", Rows));
    }

    private static object? Evaluate(string query, string column)
    {
        var text = File.ReadAllText(Path.Combine(Repository.Root, "docs", "kql", query));
        return MiniKql.Run(text, Rows)[column];
    }
}

/// <summary>
/// A deliberately tiny KQL evaluator: <c>T</c> or <c>union (q), (q)</c>, then <c>where</c> (==, !=, &lt;, &lt;=, &gt;, &gt;=,
/// and, or, parentheses, tostring(), toint(), column and <c>customDimensions.Key</c>), <c>project c = expr</c> and a
/// final <c>summarize c = count()</c>, <c>dcount(column)</c> or <c>sum(column)</c> (a double; 0 over no rows, as Kusto). Anything else throws <see cref="NotSupportedException"/>.
/// Semantics as Kusto's for these: a missing value is null, comparisons with null are false, toint of a non-number is null.
/// </summary>
internal static class MiniKql
{
    public static Dictionary<string, object?> Run(string query, JsonObject tables)
    {
        var tokens = Tokenize(query);
        var position = 0;
        var rows = Pipeline(tokens, ref position, tables, out var summary);
        if (position != tokens.Count)
        {
            throw new NotSupportedException($"unexpected '{tokens[position]}'");
        }

        if (summary is null)
        {
            throw new NotSupportedException("the query must end with summarize");
        }

        var (name, function, argument) = summary.Value;
        object? value = function switch
        {
            "count" => (object)(long)rows.Count,
            "sum" => rows.Select(r => Get(r, argument!)).Sum(v => v switch
            {
                long l => (double)l,
                double d => d,
                null => 0.0,
                _ => throw new NotSupportedException($"sum of {v.GetType().Name}"),
            }),
            _ => (object)rows.Select(r => Get(r, argument!)?.ToString()).Where(v => v is not null).Distinct().LongCount(),
        };
        return new Dictionary<string, object?> { [name] = value };
    }

    private static List<Dictionary<string, object?>> Pipeline(List<string> t, ref int p, JsonObject tables, out (string Name, string Function, string? Argument)? summary)
    {
        summary = null;
        List<Dictionary<string, object?>> rows;
        if (t[p] == "union")
        {
            p++;
            rows = [];
            do
            {
                Expect(t, ref p, "(");
                rows.AddRange(Pipeline(t, ref p, tables, out var inner));
                if (inner is not null)
                {
                    throw new NotSupportedException("summarize inside union");
                }

                Expect(t, ref p, ")");
            }
            while (p < t.Count && t[p] == "," && ++p > 0);
        }
        else
        {
            var table = t[p++];
            rows = (tables[table]?.AsArray() ?? throw new NotSupportedException($"no table {table}"))
                .Select(r => r!.AsObject().ToDictionary(kv => kv.Key, kv => Value(kv.Value))).ToList();
        }

        while (p < t.Count && t[p] == "|")
        {
            p++;
            var op = t[p++];
            switch (op)
            {
                case "where":
                {
                    var start = p;
                    var filtered = new List<Dictionary<string, object?>>();
                    foreach (var row in rows)
                    {
                        p = start;
                        if (Or(t, ref p, row) is true)
                        {
                            filtered.Add(row);
                        }
                    }

                    if (rows.Count == 0)
                    {
                        Or(t, ref p, []); // still parse it
                    }

                    rows = filtered;
                    break;
                }

                case "project":
                {
                    var start = p;
                    var projected = new List<Dictionary<string, object?>>();
                    foreach (var row in rows)
                    {
                        p = start;
                        var name = t[p++];
                        Expect(t, ref p, "=");
                        projected.Add(new Dictionary<string, object?> { [name] = Or(t, ref p, row) });
                    }

                    if (rows.Count == 0)
                    {
                        p += 2;
                        Or(t, ref p, []);
                    }

                    rows = projected;
                    break;
                }

                case "summarize":
                {
                    var name = t[p++];
                    Expect(t, ref p, "=");
                    var function = t[p++];
                    if (function is not ("count" or "dcount" or "sum"))
                    {
                        throw new NotSupportedException($"aggregate {function}");
                    }

                    Expect(t, ref p, "(");
                    string? argument = null;
                    if (function is "dcount" or "sum")
                    {
                        argument = t[p++];
                    }

                    Expect(t, ref p, ")");
                    summary = (name, function, argument);
                    break;
                }

                default:
                    throw new NotSupportedException($"operator {op}");
            }
        }

        return rows;
    }

    private static object? Or(List<string> t, ref int p, Dictionary<string, object?> row)
    {
        var left = And(t, ref p, row);
        while (p < t.Count && t[p] == "or")
        {
            p++;
            var right = And(t, ref p, row);
            left = left is true || right is true;
        }

        return left;
    }

    private static object? And(List<string> t, ref int p, Dictionary<string, object?> row)
    {
        var left = Compare(t, ref p, row);
        while (p < t.Count && t[p] == "and")
        {
            p++;
            var right = Compare(t, ref p, row);
            left = left is true && right is true;
        }

        return left;
    }

    private static object? Compare(List<string> t, ref int p, Dictionary<string, object?> row)
    {
        var left = Term(t, ref p, row);
        if (p >= t.Count || t[p] is not ("==" or "!=" or "<" or "<=" or ">" or ">="))
        {
            return left;
        }

        var op = t[p++];
        var right = Term(t, ref p, row);
        if (left is null || right is null)
        {
            return false;
        }

        var order = left is string ls && right is string rs ? string.CompareOrdinal(ls, rs)
            : left is bool lb && right is bool rb ? lb.CompareTo(rb)
            : left is long ll && right is long rl ? ll.CompareTo(rl)
            : throw new NotSupportedException($"comparing {left.GetType().Name} with {right.GetType().Name}");
        return op switch
        {
            "==" => order == 0,
            "!=" => order != 0,
            "<" => order < 0,
            "<=" => order <= 0,
            ">" => order > 0,
            _ => order >= 0,
        };
    }

    private static object? Term(List<string> t, ref int p, Dictionary<string, object?> row)
    {
        var token = t[p++];
        if (token == "(")
        {
            var inner = Or(t, ref p, row);
            Expect(t, ref p, ")");
            return inner;
        }

        if (token.StartsWith('"'))
        {
            return token[1..^1];
        }

        if (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }

        if (token is "true" or "false")
        {
            return token == "true";
        }

        if (token is "tostring" or "toint")
        {
            Expect(t, ref p, "(");
            var argument = Or(t, ref p, row);
            Expect(t, ref p, ")");
            return token == "tostring"
                ? argument?.ToString() ?? string.Empty
                : long.TryParse(argument?.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;
        }

        if (!char.IsLetter(token[0]) && token[0] != '_')
        {
            throw new NotSupportedException($"token {token}");
        }

        if (p < t.Count && t[p] == "(")
        {
            throw new NotSupportedException($"function {token}");
        }

        var value = Get(row, token);
        while (p < t.Count && t[p] == ".")
        {
            p++;
            var key = t[p++];
            value = value is Dictionary<string, object?> bag && bag.TryGetValue(key, out var inner) ? inner : null;
        }

        return value;
    }

    private static object? Get(Dictionary<string, object?> row, string column) => row.TryGetValue(column, out var value) ? value : null;

    private static object? Value(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(kv => kv.Key, kv => Value(kv.Value)),
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        JsonValue v => v.ToString(),
        _ => throw new NotSupportedException("arrays in a row"),
    };

    private static void Expect(List<string> t, ref int p, string token)
    {
        if (p >= t.Count || t[p] != token)
        {
            throw new NotSupportedException($"expected '{token}' at token {p}");
        }

        p++;
    }

    private static List<string> Tokenize(string query)
    {
        var tokens = new List<string>();
        var i = 0;
        while (i < query.Length)
        {
            var c = query[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c == '/' && i + 1 < query.Length && query[i + 1] == '/')
            {
                while (i < query.Length && query[i] != '\n')
                {
                    i++;
                }
            }
            else if (c == '"')
            {
                var end = query.IndexOf('"', i + 1);
                tokens.Add(query[i..(end + 1)]);
                i = end + 1;
            }
            else if (char.IsLetterOrDigit(c) || c == '_')
            {
                var start = i;
                while (i < query.Length && (char.IsLetterOrDigit(query[i]) || query[i] == '_'))
                {
                    i++;
                }

                tokens.Add(query[start..i]);
            }
            else if (i + 1 < query.Length && query.Substring(i, 2) is "==" or "!=" or "<=" or ">=")
            {
                tokens.Add(query.Substring(i, 2));
                i += 2;
            }
            else if ("|(),.=<>".Contains(c, StringComparison.Ordinal))
            {
                tokens.Add(c.ToString());
                i++;
            }
            else
            {
                throw new NotSupportedException($"character '{c}'");
            }
        }

        return tokens;
    }
}
