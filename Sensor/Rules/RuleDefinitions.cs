using Sensor.Rules.Syntax;
using Triage.Contracts;

namespace Sensor.Rules;

/// <summary>A <c>- macro:</c> item (after overrides), parsed once.</summary>
internal sealed class MacroDefinition
{
    public required string Name { get; init; }
    public required SourceText Condition { get; set; }
    public required ConditionNode Ast { get; set; }
    public required SourceLocation Location { get; init; }
}

/// <summary>A <c>- list:</c> item (after overrides). Items may name other lists.</summary>
internal sealed class ListDefinition
{
    public required string Name { get; init; }
    public required List<string> Items { get; set; }
    public required SourceLocation Location { get; init; }
}

/// <summary>One entry of a rule's <c>exceptions</c>: fields, comparison operators and tuples of values.</summary>
internal sealed class ExceptionDefinition
{
    public required string Name { get; init; }

    /// <summary>Field names; <see cref="SingleField"/> when written as a scalar (values are then single items).</summary>
    public required List<string> Fields { get; init; }

    public bool SingleField { get; init; }
    public required List<string> Comps { get; init; }

    /// <summary>Each tuple has one entry per field; an entry is one value or, for in/pmatch/intersects, several.</summary>
    public List<List<List<string>>> Values { get; } = [];

    public required SourceLocation Location { get; init; }

    /// <summary>The values as written, kept for appends that omit the fields.</summary>
    public YamlDotNet.RepresentationModel.YamlSequenceNode? RawValues { get; init; }
}

/// <summary>A <c>- rule:</c> item after overrides, before compilation.</summary>
internal sealed class RuleDefinition
{
    public required string Name { get; init; }
    public string Description { get; set; } = "";
    public required SourceText Condition { get; set; }
    public string Output { get; set; } = "";
    public AlertPriority Priority { get; set; } = AlertPriority.Warning;
    public List<string> Tags { get; set; } = [];
    public bool Enabled { get; set; } = true;
    public List<ExceptionDefinition> Exceptions { get; set; } = [];
    public string Source { get; set; } = "syscall";

    /// <summary>Our extension to Falco's keys: the runbook the alert points to.</summary>
    public string? Runbook { get; set; }

    /// <summary>Falco's <c>skip-if-unknown-filter</c>: skip this rule quietly when it uses an unknown field.</summary>
    public bool SkipIfUnknownFilter { get; set; }

    public required SourceLocation Location { get; init; }
}
