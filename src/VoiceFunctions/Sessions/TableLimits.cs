using System.Text;
using Azure.Data.Tables;

namespace VoiceFunctions.Sessions;

/// <summary>
/// Table Storage's limits, checked before anything is written so that no request can make a step unstorable
/// (a value over a limit is refused by the service with a 400 that no retry or replay can ever get past).
/// From Microsoft's "Understanding the Table service data model"
/// (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model): an
/// <c>Edm.String</c> is UTF-16 and at most 64 KiB (32 K characters); all of an entity's properties together at
/// most 1 MiB, at most 255 properties; <c>PartitionKey</c> and <c>RowKey</c> at most 1 KiB, without <c>/ \ # ?</c>
/// and control characters (U+0000-U+001F, U+007F-U+009F). From "Performing entity group transactions"
/// (https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions): at most 100
/// entities and a 4 MiB payload. Azurite enforces the same string and key limits (its PropertyValueTooLarge above
/// 32,768 characters, InvalidInput for a key over 512 characters or with those characters).
/// </summary>
public static class TableLimits
{
    /// <summary>A string property: 64 KiB of UTF-16.</summary>
    public const int MaxStringChars = 32 * 1024;

    /// <summary>An entity, by Microsoft's size formula (<see cref="EntityBytes"/>).</summary>
    public const int MaxEntityBytes = 1024 * 1024;

    /// <summary>
    /// What this app fills an entity to: the formula is an estimate (measured against the service, it
    /// undercounts by under 100 bytes), and the row's <c>Shortened</c> note has to fit as well.
    /// </summary>
    public const int EntityBudgetBytes = MaxEntityBytes - 8 * 1024;

    public const int MaxProperties = 252; // 255 less PartitionKey, RowKey and Timestamp
    public const int MaxKeyChars = 512; // 1 KiB of UTF-16
    public const int MaxTransactionEntities = 100;
    public const int MaxTransactionBytes = 4 * 1024 * 1024;

    /// <summary>Room for the multipart framing and headers of one operation in a transaction (a few hundred bytes in practice).</summary>
    private const int TransactionBytesPerOperation = 1024;

    /// <summary>
    /// An entity's size as Microsoft documents it: 4 bytes, the keys as UTF-16, and per property 8 bytes, its
    /// name as UTF-16 and its value (a string 4 + 2 per character, a binary 4 + its length, a GUID 16, a
    /// date, a 64-bit number or a double 8, an int 4, a bool 1).
    /// </summary>
    public static long EntityBytes(TableEntity entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        long size = 4 + (entity.PartitionKey.Length + entity.RowKey.Length) * 2L;
        foreach (var (name, value) in entity)
        {
            if (name is "PartitionKey" or "RowKey" or "Timestamp" or "odata.etag")
            {
                continue;
            }

            size += PropertyBytes(name, value);
        }

        return size;
    }

    public static long PropertyBytes(string name, object? value)
    {
        ArgumentNullException.ThrowIfNull(name);
        return 8 + name.Length * 2L + value switch
        {
            string s => 4 + s.Length * 2L,
            byte[] b => 4 + b.Length,
            BinaryData d => 4 + d.ToMemory().Length,
            Guid => 16,
            int or bool => value is bool ? 1 : 4,
            _ => 8, // long, double, DateTime, DateTimeOffset
        };
    }

    /// <summary>
    /// Cuts every string property over <see cref="MaxStringChars"/> (the text chunks are already within it) and
    /// notes each in <paramref name="shortened"/>; then checks the keys, the property count and the entity size.
    /// </summary>
    /// <exception cref="UnstorableStepException">A key is not storable, or the entity is still too large.</exception>
    public static void Fit(TableEntity entity, ShortenedFields shortened)
    {
        ArgumentNullException.ThrowIfNull(entity);
        ArgumentNullException.ThrowIfNull(shortened);
        CheckKey(entity.PartitionKey);
        CheckKey(entity.RowKey);
        foreach (var (name, value) in entity.ToList())
        {
            if (value is string s && s.Length > MaxStringChars && name is not ("PartitionKey" or "RowKey"))
            {
                entity[name] = Cut(s, MaxStringChars);
                shortened.Add(name, s.Length);
            }
        }

        if (shortened.ToString() is { } note)
        {
            entity[SessionTable.ShortenedProperty] = Cut(note, MaxStringChars);
        }

        if (entity.Count - 2 > MaxProperties)
        {
            throw new UnstorableStepException("TooManyProperties");
        }

        if (EntityBytes(entity) > MaxEntityBytes)
        {
            throw new UnstorableStepException("EntityTooLarge");
        }
    }

    private static void CheckKey(string key)
    {
        if (key.Length is 0 or > MaxKeyChars || key.Any(c => c is '/' or '\\' or '#' or '?' || c <= '\u001f' || c is >= '\u007f' and <= '\u009f'))
        {
            throw new UnstorableStepException("InvalidKey");
        }
    }

    /// <summary>
    /// The transaction's limits: at most 100 entities and a 4 MiB payload. The payload is bounded from above
    /// (every character that JSON may escape counted as a 6-byte <c>\uXXXX</c>), so a step that passes fits
    /// whatever the client's encoder escapes.
    /// </summary>
    /// <exception cref="UnstorableStepException">The step is over a limit.</exception>
    public static void CheckTransaction(IReadOnlyCollection<TableTransactionAction> actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        if (actions.Count > MaxTransactionEntities)
        {
            throw new UnstorableStepException("TooManyEntities");
        }

        if (actions.Sum(TransactionBytes) > MaxTransactionBytes)
        {
            throw new UnstorableStepException("TransactionTooLarge");
        }
    }

    /// <summary>An upper bound for what one operation adds to a transaction's payload (see <see cref="CheckTransaction"/>).</summary>
    public static long TransactionBytes(TableTransactionAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var bytes = TransactionBytesPerOperation + JsonBytes(action.Entity.PartitionKey) + JsonBytes(action.Entity.RowKey);
        foreach (var (name, value) in action.Entity as TableEntity ?? [])
        {
            // The name, quoted, and an "@odata.type" annotation for typed values: 64 bytes is more than either needs.
            bytes += 64 + JsonBytes(name) + (value is string s ? JsonBytes(s) : 64);
        }

        return bytes;
    }

    /// <summary>An upper bound for a string's size in JSON: printable ASCII as is, anything else as an escape.</summary>
    private static long JsonBytes(string s)
    {
        long bytes = 2;
        foreach (var c in s)
        {
            bytes += c is >= ' ' and < '\u007f' ? 1 : 6;
        }

        return bytes;
    }

    /// <summary>The first <paramref name="maxChars"/> characters, one fewer should that split a surrogate pair.</summary>
    public static string Cut(string value, int maxChars)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length <= maxChars)
        {
            return value;
        }

        var length = Math.Max(0, maxChars);
        if (length > 0 && char.IsHighSurrogate(value[length - 1]))
        {
            length--;
        }

        return value[..length];
    }
}

/// <summary>
/// Which fields of a row were stored shortened, and how long each was: <c>field:length</c> pairs separated by
/// spaces (e.g. <c>account_id:40000 text:1200000</c>), field names as the read-back API spells them, lengths in
/// UTF-16 characters as received. Stored on the row itself (property <c>Shortened</c>), so it stays with the value.
/// </summary>
public sealed class ShortenedFields
{
    private readonly List<(string Field, int Length)> _fields = [];

    public ShortenedFields(string? existing = null)
    {
        foreach (var pair in (existing ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = pair.LastIndexOf(':');
            if (colon > 0 && int.TryParse(pair.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture, out var length))
            {
                _fields.Add((pair[..colon], length));
            }
        }
    }

    /// <summary>Notes a field (a row property name is written as the API spells it); the first note of a field stays.</summary>
    public void Add(string field, int originalLength)
    {
        var name = ApiName(field);
        if (!_fields.Exists(f => f.Field == name))
        {
            _fields.Add((name, originalLength));
        }
    }

    public bool Contains(string field) => _fields.Exists(f => f.Field == ApiName(field));

    /// <summary>The note, or null when nothing was shortened.</summary>
    public override string? ToString() => _fields.Count == 0
        ? null
        : string.Join(' ', _fields.Select(f => f.Field + ":" + f.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Merges <paramref name="other"/> into <paramref name="note"/> (either may be null).</summary>
    public static string? Merge(string? note, string? other)
    {
        var merged = new ShortenedFields(note);
        foreach (var (field, length) in new ShortenedFields(other)._fields)
        {
            merged.Add(field, length);
        }

        return merged.ToString();
    }

    /// <summary>PascalCase row properties in snake_case, like the read-back JSON; Text_3 (a text chunk) is text.</summary>
    private static string ApiName(string field)
    {
        if (field.StartsWith("Text_", StringComparison.Ordinal))
        {
            field = "Text";
        }

        var builder = new StringBuilder(field.Length + 4);
        foreach (var c in field)
        {
            if (char.IsUpper(c))
            {
                if (builder.Length > 0)
                {
                    builder.Append('_');
                }

                builder.Append(char.ToLowerInvariant(c));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
