# syntax=docker/dockerfile:1
# The OpenAI-compatible front: `docker build -f docker/api.Dockerfile .` from the repository root.
#   docker run -p 8000:8080 -e services__inference__http__0=http://inference:8080 reasoningserve-api
# azd does not use this file: the manifest publishes the Api as a project (project.v0), which azd containerises with
# `dotnet publish /t:PublishContainer` onto the same mcr.microsoft.com/dotnet/aspnet:10.0 base and port.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props ./
COPY ReasoningServe.ServiceDefaults/ReasoningServe.ServiceDefaults.csproj ReasoningServe.ServiceDefaults/
COPY ReasoningServe.Api/ReasoningServe.Api.csproj ReasoningServe.Api/
RUN dotnet restore ReasoningServe.Api/ReasoningServe.Api.csproj
COPY ReasoningServe.ServiceDefaults/ ReasoningServe.ServiceDefaults/
COPY ReasoningServe.Api/ ReasoningServe.Api/
RUN dotnet publish ReasoningServe.Api/ReasoningServe.Api.csproj -c Release --no-restore -o /app -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app
COPY --from=build /app ./
# The Api listens on HTTP_PORTS when no --port is given (Options/FrontCommandLine.cs); the base image sets the same
# value, stated here so EXPOSE, this and the manifest's targetPort visibly agree (a test checks).
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "ReasoningServe.Api.dll"]
