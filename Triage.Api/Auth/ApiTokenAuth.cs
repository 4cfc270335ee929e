using System.Security.Cryptography;
using System.Text;
using Triage.Api.Configuration;

namespace Triage.Api.Auth;

/// <summary>Checks <c>Authorization: Bearer &lt;token&gt;</c> against the configured tokens.</summary>
internal sealed class ApiTokens
{
    private readonly (byte[] Hash, ApiToken Token)[] _tokens;

    public ApiTokens(TriageConfig config) =>
        _tokens = [.. config.Auth.Tokens.Select(t => (Hash(t.Resolve() ?? ""), t))];

    /// <summary>The token's holder, or null when the header is missing or matches no token.</summary>
    public ApiToken? Authenticate(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var presented = Hash(header["Bearer ".Length..].Trim());
        ApiToken? match = null;

        // Compare against every token in constant time so the timing says nothing about which prefix matched.
        foreach (var (hash, token) in _tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, presented))
            {
                match = token;
            }
        }

        return match;
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}

/// <summary>Endpoint filter: 401 without a valid token, 403 when the token lacks the scope.</summary>
internal static class ApiTokenAuthExtensions
{
    private const string TokenItem = "triage.api-token";

    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var token = http.RequestServices.GetRequiredService<ApiTokens>().Authenticate(http.Request);
            if (token is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
                    detail: "Send Authorization: Bearer <token> with a token from the configuration's auth.tokens.");
            }

            if (!token.Scopes.Contains(scope))
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                    detail: $"Token '{token.Name}' lacks the '{scope}' scope.");
            }

            http.Items[TokenItem] = token;
            return await next(context);
        });

    /// <summary>The authenticated token of this request (set by <see cref="RequireScope"/>).</summary>
    public static ApiToken ApiToken(this HttpContext context) => (ApiToken)context.Items[TokenItem]!;
}
