using System.Text;
using System.Text.Json;
using VoiceFunctions.FunctionsHost.Rpc;

namespace VoiceFunctions.FunctionsHost;

/// <summary>The functions the worker reported, described by their trigger binding, with app settings resolved.</summary>
internal static class FunctionIndex
{
    public static List<HostedFunction> Describe(IEnumerable<RpcFunctionMetadata> functions, Func<string, string?> setting) =>
        [.. functions.Select(f => Describe(f, setting))];

    /// <summary>
    /// The host's checks of HTTP functions at load (ScriptHost.ValidateFunction/ValidateHttpFunction and
    /// HttpRoutesConflict): a route in the reserved "admin" or "runtime" space, or the same route as an earlier
    /// function with methods in common (no methods: all), puts that function in error; it is not loaded, the rest are.
    /// Timer and queue triggers are checked as their extensions check them while indexing (see TimerError, QueueError).
    /// </summary>
    public static List<HostedFunction> Validate(IEnumerable<HostedFunction> functions, OutputLog output, Func<string, string?> setting)
    {
        var accepted = new List<HostedFunction>();
        foreach (var function in functions)
        {
            var error = function.IsHttp ? HttpError(function, accepted)
                : function.IsTimer ? TimerError(function)
                : function.IsQueue ? QueueError(function, setting)
                : null;
            if (error is null)
            {
                accepted.Add(function);
            }
            else
            {
                output.Host("Error", $"The '{function.Name}' function is in error: {error}");
            }
        }

        return accepted;
    }

    public static void Print(IEnumerable<HostedFunction> functions, Uri baseAddress, string routePrefix, OutputLog output)
    {
        output.Host("Information", "Functions:");
        foreach (var function in functions)
        {
            if (function.IsHttp)
            {
                var methods = function.Methods is null ? "ALL" : string.Join(',', function.Methods).ToUpperInvariant();
                var path = string.IsNullOrEmpty(routePrefix) ? function.Route : routePrefix + "/" + function.Route;
                output.Host("Information", $"  {function.Name}: [{methods}] {baseAddress}{path} (authLevel {function.AuthLevel})");
            }
            else if (function.IsTimer)
            {
                output.Host("Information", $"  {function.Name}: timerTrigger ({function.Schedule} = {function.ResolvedSchedule ?? "unresolved"})");
            }
            else if (function.IsQueue)
            {
                output.Host("Information", $"  {function.Name}: queueTrigger ({function.QueueName} = {function.ResolvedQueueName ?? "unresolved"})");
            }
            else
            {
                output.Host("Information", $"  {function.Name}: {function.TriggerType}");
            }
        }
    }

    /// <summary>"%Name%" → the app setting; null if a named setting is unset.</summary>
    public static string? ResolveSettings(string value, Func<string, string?> setting)
    {
        var result = new StringBuilder();
        var index = 0;
        while (index < value.Length)
        {
            var open = value.IndexOf('%', index);
            var close = open < 0 ? -1 : value.IndexOf('%', open + 1);
            if (close < 0)
            {
                result.Append(value, index, value.Length - index);
                break;
            }

            result.Append(value, index, open - index);
            if (setting(value[(open + 1)..close]) is not { } resolved)
            {
                return null;
            }

            result.Append(resolved);
            index = close + 1;
        }

        return result.ToString();
    }

    private static HostedFunction Describe(RpcFunctionMetadata metadata, Func<string, string?> setting)
    {
        foreach (var raw in metadata.RawBindings)
        {
            using var binding = JsonDocument.Parse(raw);
            var root = binding.RootElement;
            var type = Property(root, "type");
            if (type is null || !type.EndsWith("Trigger", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var name = Property(root, "name") ?? "";
            if (type.Equals("httpTrigger", StringComparison.OrdinalIgnoreCase))
            {
                string[]? methods = root.TryGetProperty("methods", out var m) && m.ValueKind == JsonValueKind.Array && m.GetArrayLength() > 0
                    ? [.. m.EnumerateArray().Select(v => v.GetString()!.ToLowerInvariant())]
                    : null;
                var route = Property(root, "route");
                return new HostedFunction(
                    metadata.Name, metadata.FunctionId, type, name,
                    string.IsNullOrEmpty(route) ? metadata.Name : route.Trim('/'),
                    methods,
                    (Property(root, "authLevel") ?? "function").ToLowerInvariant(),
                    null, null, false);
            }

            if (type.Equals("timerTrigger", StringComparison.OrdinalIgnoreCase))
            {
                var schedule = Property(root, "schedule");
                var runOnStartup = root.TryGetProperty("runOnStartup", out var r)
                    && (r.ValueKind == JsonValueKind.True || (r.ValueKind == JsonValueKind.String && bool.TryParse(r.GetString(), out var b) && b));
                return new HostedFunction(
                    metadata.Name, metadata.FunctionId, type, name, null, null, null,
                    schedule, schedule is null ? null : ResolveSettings(schedule, setting), runOnStartup);
            }

            var described = new HostedFunction(metadata.Name, metadata.FunctionId, type, name, null, null, null, null, null, false)
            {
                DataType = Property(root, "dataType"),
                DeferredBinding = root.TryGetProperty("properties", out var properties)
                    && properties.ValueKind == JsonValueKind.Object
                    && Property(properties, "supportsDeferredBinding") is { } deferred
                    && bool.TryParse(deferred, out var isDeferred) && isDeferred,
            };
            if (type.Equals("queueTrigger", StringComparison.OrdinalIgnoreCase))
            {
                var queueName = Property(root, "queueName");
                // QueueTriggerAttributeBindingProvider: ResolveWholeString, then ToLowerInvariant ("coerce here to be nice").
                described = described with
                {
                    QueueName = queueName,
                    ResolvedQueueName = queueName is null ? null : ResolveSettings(queueName, setting)?.ToLowerInvariant(),
                    Connection = Property(root, "connection"),
                };
            }

            return described;
        }

        return new HostedFunction(metadata.Name, metadata.FunctionId, "(no trigger)", "", null, null, null, null, null, false);
    }

    /// <summary>
    /// The timer extension builds the schedule while indexing (TimerSchedule.Create, WebJobs.Extensions 2e7550f7):
    /// NameResolverExtensions.ResolveWholeString throws "'%Name%' does not resolve to a value." for an unset app
    /// setting, and an expression that is neither NCRONTAB nor a TimeSpan is an ArgumentException. Either puts the
    /// function in error (not loaded).
    /// </summary>
    private static string? TimerError(HostedFunction function)
    {
        if (function.Schedule is null)
        {
            return null;
        }

        if (function.ResolvedSchedule is null)
        {
            return $"'%{FirstUnresolvedName(function.Schedule)}%' does not resolve to a value.";
        }

        return TimerTrigger.ParseSchedule(function.ResolvedSchedule) is null
            ? $"The schedule expression '{function.ResolvedSchedule}' was not recognized as a valid cron expression or timespan string."
            : null;
    }

    /// <summary>
    /// The queue extension builds the trigger while indexing (QueueTriggerAttributeBindingProvider.TryCreateAsync,
    /// azure-sdk-for-net Microsoft.Azure.WebJobs.Extensions.Storage.Queues): the name resolved as a whole, lower-cased
    /// and validated (QueueClientExtensions.ValidateQueueName), then the connection looked up
    /// (StorageClientProvider.Get). Any failure puts the function in error.
    /// </summary>
    private static string? QueueError(HostedFunction function, Func<string, string?> setting)
    {
        if (function.QueueName is null)
        {
            return "A queue name can't be null or empty";
        }

        if (function.ResolvedQueueName is null)
        {
            return $"'%{FirstUnresolvedName(function.QueueName)}%' does not resolve to a value.";
        }

        if (QueueNames.Invalid(function.ResolvedQueueName) is { } invalid)
        {
            return invalid;
        }

        return QueueConnection.Resolve(function.Connection, setting).Error;
    }

    private static string FirstUnresolvedName(string schedule)
    {
        var open = schedule.IndexOf('%', StringComparison.Ordinal);
        var close = open < 0 ? -1 : schedule.IndexOf('%', open + 1);
        return close < 0 ? schedule : schedule[(open + 1)..close];
    }

    private static string? HttpError(HostedFunction function, IEnumerable<HostedFunction> earlier)
    {
        var route = function.Route!.Trim('/');
        if (route.StartsWith("admin", StringComparison.OrdinalIgnoreCase) || route.StartsWith("runtime", StringComparison.OrdinalIgnoreCase))
        {
            return "The specified route conflicts with one or more built in routes.";
        }

        foreach (var other in earlier.Where(f => f.IsHttp))
        {
            if (string.Equals(route, other.Route!.Trim('/'), StringComparison.OrdinalIgnoreCase)
                && (function.Methods is null || other.Methods is null || function.Methods.Intersect(other.Methods).Any()))
            {
                return $"The route specified conflicts with the route defined by function '{other.Name}'.";
            }
        }

        return null;
    }

    private static string? Property(JsonElement element, string name)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
            {
                return property.Value.GetString();
            }
        }

        return null;
    }
}
