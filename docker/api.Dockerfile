# The OpenAI front door (ReasoningServe.Api) on the ASP.NET Core image. azd builds the manifest's `api` (project.v0)
# with `dotnet publish /t:PublishContainer`; this file is for building the same image by hand.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish ReasoningServe.Api/ReasoningServe.Api.csproj -c Release -o /app -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
ENV ASPNETCORE_HTTP_PORTS=8000
EXPOSE 8000
ENTRYPOINT ["dotnet", "ReasoningServe.Api.dll"]
CMD ["--port", "8000"]
