using Sensor.Rules.Enforcement;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Sensor.Rules;

/// <summary>
/// The <c>rules:</c> section of the sensor configuration:
/// <code>
/// rules:
///   include_default_pack: true        # the pack shipped in rules/default-rules.yaml next to the binary
///   files: [/etc/sensor/rules.d]      # more files or directories, loaded after the pack (they may override it)
///   unknown_fields: skip              # skip | refuse: a rule using a field the sensor does not provide
///   rule_matching: all                # all | first
///   enforcement:
///     enabled: false
///     deny_metadata: { namespaces: [payments] }
///     kill:
///       - rules: [Known cryptominer launched]
///         namespaces: []
/// </code>
/// </summary>
internal sealed record RulesConfig
{
    /// <summary>Where the default pack lives: rules/default-rules.yaml beside the sensor binary.</summary>
    public static string DefaultPackPath => Path.Combine(AppContext.BaseDirectory, "rules", "default-rules.yaml");

    public bool IncludeDefaultPack { get; init; } = true;
    public IReadOnlyList<string> Files { get; init; } = [];
    public UnknownFieldPolicy UnknownFields { get; init; } = UnknownFieldPolicy.Skip;
    public RuleMatching RuleMatching { get; init; } = RuleMatching.All;
    public EnforcementOptions Enforcement { get; init; } = new();

    /// <summary>Reads the <c>rules:</c> section of a sensor configuration file; defaults when it is absent.</summary>
    public static RulesConfig FromYaml(string yaml)
    {
        var deserializer = new DeserializerBuilder()
            .WithNamingConvention(UnderscoredNamingConvention.Instance)
            .IgnoreUnmatchedProperties()
            .Build();
        try
        {
            var root = deserializer.Deserialize<Root?>(yaml);
            return root?.Rules?.ToConfig() ?? new RulesConfig();
        }
        catch (YamlException ex)
        {
            throw new RuleLoadException($"rules configuration: {ex.Message}", new SourceLocation("config", (int)ex.Start.Line, (int)ex.Start.Column));
        }
    }

    /// <summary>Loads the default pack (unless switched off) and the configured files, in that order.</summary>
    public RuleSet LoadRules()
    {
        var loader = new RuleLoader();
        if (IncludeDefaultPack)
        {
            loader.LoadPath(DefaultPackPath);
        }

        foreach (var path in Files)
        {
            loader.LoadPath(path);
        }

        var rules = loader.Build(new RuleEngineOptions { UnknownFields = UnknownFields, Matching = RuleMatching });
        var errors = Enforcement.Validate(rules);
        if (errors.Count > 0)
        {
            throw new RuleLoadException(string.Join(Environment.NewLine, errors), null);
        }

        return rules;
    }

    // Mutable shapes for the YAML deserializer only.
    private sealed class Root
    {
        public Section? Rules { get; set; }
    }

    private sealed class Section
    {
        public bool IncludeDefaultPack { get; set; } = true;
        public List<string> Files { get; set; } = [];
        public string UnknownFields { get; set; } = "skip";
        public string RuleMatching { get; set; } = "all";
        public EnforcementSection? Enforcement { get; set; }

        public RulesConfig ToConfig() => new()
        {
            IncludeDefaultPack = IncludeDefaultPack,
            Files = Files,
            UnknownFields = UnknownFields switch
            {
                "skip" => UnknownFieldPolicy.Skip,
                "refuse" => UnknownFieldPolicy.Refuse,
                _ => throw new RuleLoadException($"rules.unknown_fields: '{UnknownFields}' is not skip or refuse", null),
            },
            RuleMatching = RuleMatching switch
            {
                "all" => Rules.RuleMatching.All,
                "first" => Rules.RuleMatching.First,
                _ => throw new RuleLoadException($"rules.rule_matching: '{RuleMatching}' is not all or first", null),
            },
            Enforcement = Enforcement?.ToOptions() ?? new EnforcementOptions(),
        };
    }

    private sealed class EnforcementSection
    {
        public bool Enabled { get; set; }
        public DenySection? DenyMetadata { get; set; }
        public List<KillSection> Kill { get; set; } = [];

        public EnforcementOptions ToOptions() => new()
        {
            Enabled = Enabled,
            DenyMetadata = DenyMetadata is null
                ? new MetadataDenyOptions()
                : new MetadataDenyOptions
                {
                    Namespaces = DenyMetadata.Namespaces,
                    Addresses = DenyMetadata.Addresses ?? new MetadataDenyOptions().Addresses,
                },
            Kill = Kill.Select(k => new KillPolicy { Rules = k.Rules, Namespaces = k.Namespaces, IncludeHost = k.IncludeHost }).ToList(),
        };
    }

    private sealed class DenySection
    {
        public List<string> Namespaces { get; set; } = [];
        public List<string>? Addresses { get; set; }
    }

    private sealed class KillSection
    {
        public List<string> Rules { get; set; } = [];
        public List<string> Namespaces { get; set; } = [];
        public bool IncludeHost { get; set; }
    }
}
