using Triage.Api.Configuration;

namespace Triage.Tests.Paging;

/// <summary>
/// A person's <c>teams_user_id</c> goes unchanged into the Bot Connector's <c>members[]</c> when a Teams page opens the
/// 1:1 conversation, which takes only the Bot Framework user id (29:…): its format is checked at start-up.
/// </summary>
public sealed class PagingOptionsTests
{
    private static string Config(string teamsUserId, bool teamsChat = true, bool directMessages = true) => $$"""
        teams:
          - name: payments
            kind: platform
          - name: soc
            kind: soc
        people:
          - { name: alice, teams: [payments], teams_user_id: "29:1a2B3c-alice" }
          - name: bob
            teams: [payments]
            teams_user_id: "{{teamsUserId}}"
        paging:
          direct_messages: {{(directMessages ? "true" : "false")}}
        """ + (teamsChat ? """

        chat:
          teams:
            app_id: 00000000-0000-0000-0000-0000000000b0
            app_secret: not-a-real-secret
            tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
            default_channel: "19:payments@thread.tacv2"
        """ : "");

    [Theory]
    [InlineData("29:1kIpk7t3GSn2hSqSNZgSb5JzW9wgtGN8e_b6bmI3jnwq3NwBn5fYEf4a-aO2sHX2pFNUbdzUtWjzTCPoCVVzWPg")]
    [InlineData("29:x")]
    public void Parse_BotFrameworkUserId_IsAccepted(string id)
    {
        var config = ConfigLoader.Parse(Config(id), "people.yaml");

        Assert.Equal(id, config.People[1].TeamsUserId);
    }

    [Fact]
    public void Parse_AadObjectId_IsAcceptedWhenTeamsDoesNotPage()
    {
        const string aad = "6f8b2a7e-2c4d-4e0f-9a51-3c2d1e0f9a8b";

        Assert.Equal(aad, ConfigLoader.Parse(Config(aad, teamsChat: false), "people.yaml").People[1].TeamsUserId);
        Assert.Equal(aad, ConfigLoader.Parse(Config(aad, directMessages: false), "people.yaml").People[1].TeamsUserId);
    }

    [Fact]
    public void Parse_AadObjectIdWhileTeamsPages_SaysTheDirectMessageNeedsThe29Id()
    {
        var yaml = Config("6f8b2a7e-2c4d-4e0f-9a51-3c2d1e0f9a8b");

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "people.yaml"));

        var only = Assert.Single(error.Errors);
        Assert.Equal(("people.yaml", "people[1].teams_user_id", LineOf(yaml, "teams_user_id: \"6f8b")), (only.File, only.Field, only.Line));
        Assert.Contains("AAD object id", only.Message, StringComparison.Ordinal);
        Assert.Contains("29:", only.Message, StringComparison.Ordinal);
        Assert.Contains("paging.direct_messages: false", only.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bob@example.com", "an email address or UPN is not an id")]
    [InlineData("28:00000000-0000-0000-0000-0000000000b0", "28:… is a bot's id")]
    [InlineData("8:orgid:6f8b2a7e-2c4d-4e0f-9a51-3c2d1e0f9a8b", "Skype MRI")]
    [InlineData("29:", "is not a Teams user id")]
    [InlineData("29:with space", "is not a Teams user id")]
    [InlineData("U0BOB", "is not a Teams user id")]
    public void Parse_SomethingElse_IsRejectedWithWhatAnIdLooksLike(string id, string hint)
    {
        var yaml = Config(id, teamsChat: false);

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "people.yaml"));

        var only = Assert.Single(error.Errors);
        Assert.Equal("people[1].teams_user_id", only.Field);
        Assert.Equal(LineOf(yaml, $"teams_user_id: \"{id}\""), only.Line);
        Assert.Contains(hint, only.Message, StringComparison.Ordinal);
        Assert.Contains("expected the Bot Framework user id 29:…", only.Message, StringComparison.Ordinal);
    }

    private static int LineOf(string yaml, string text) =>
        yaml.Split('\n').ToList().FindIndex(l => l.Contains(text, StringComparison.Ordinal)) + 1;
}
