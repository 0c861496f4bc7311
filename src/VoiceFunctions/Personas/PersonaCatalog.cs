using Microsoft.Extensions.Options;
using VoiceFunctions.AiFlow;

namespace VoiceFunctions.Personas;

/// <summary>The <c>Personas</c> configuration section: persona name to persona.</summary>
public sealed class PersonaOptions : Dictionary<string, Persona>
{
    public const string Section = "Personas";
    public const string DefaultName = "default";

    public PersonaOptions() : base(StringComparer.OrdinalIgnoreCase) { }
}

/// <summary>Finds the persona for a dialled number. Built once from validated options.</summary>
public sealed class PersonaCatalog
{
    private readonly Dictionary<string, Persona> _byNumber = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Persona> _byName = new(StringComparer.OrdinalIgnoreCase);

    public PersonaCatalog(IOptions<PersonaOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (name, persona) in options.Value)
        {
            persona.Name = name;
            _byName[name] = persona;
            foreach (var number in persona.PhoneNumbers)
            {
                _byNumber[PhoneNumbers.Normalize(number)] = persona;
            }
        }

        Default = _byName[PersonaOptions.DefaultName];
    }

    public Persona Default { get; }

    /// <summary>The persona for <c>to_phone_number</c>, else <c>phone_number</c>, else the default.</summary>
    public Persona ForSession(AiFlowSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        foreach (var number in new[] { session.ToPhoneNumber, session.PhoneNumber })
        {
            if (_byNumber.TryGetValue(PhoneNumbers.Normalize(number), out var persona))
            {
                return persona;
            }
        }

        return Default;
    }

    /// <summary>The persona a stored session was started with; the default if it has since been removed.</summary>
    public Persona ByName(string? name) =>
        name is not null && _byName.TryGetValue(name, out var persona) ? persona : Default;
}
