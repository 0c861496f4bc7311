namespace VoiceFunctions.AiFlow;

/// <summary>Phone numbers arrive as "+4921155660" or "4921155660": compare digits only.</summary>
public static class PhoneNumbers
{
    /// <summary>The digits of <paramref name="number"/> only ("+49 (211) 556-60" → "4921155660"); empty for null.</summary>
    /// <param name="number">A phone number in any notation.</param>
    public static string Normalize(string? number)
    {
        if (string.IsNullOrEmpty(number))
        {
            return string.Empty;
        }

        Span<char> digits = number.Length <= 64 ? stackalloc char[number.Length] : new char[number.Length];
        var count = 0;
        foreach (var c in number)
        {
            if (char.IsAsciiDigit(c))
            {
                digits[count++] = c;
            }
        }

        return new string(digits[..count]);
    }
}
