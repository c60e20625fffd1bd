// Server reflection (grpc.reflection.v1alpha) for tests: what `grpcurl list` and
// `grpcurl describe` would see, asked directly. A failed write or stream fails the test.
#pragma once

#include <set>
#include <string>

#include "common/client_context.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"

namespace testing_support {

// The fully qualified names of the services `addr` lists (what `grpcurl list` prints).
inline std::set<std::string> ListServices(const std::string& addr) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto context = common::NewClientContext({});
  auto stream = stub->ServerReflectionInfo(context.get());
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  EXPECT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  std::set<std::string> names;
  while (stream->Read(&response)) {
    for (const auto& s : response.list_services_response().service()) names.insert(s.name());
  }
  EXPECT_TRUE(stream->Finish().ok());
  return names;
}

// The methods of the fully qualified `service` as reflection describes them (what `grpcurl
// describe` prints).
inline std::set<std::string> DescribeMethods(const std::string& addr, const std::string& service) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto context = common::NewClientContext({});
  auto stream = stub->ServerReflectionInfo(context.get());
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_file_containing_symbol(service);
  EXPECT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  std::set<std::string> methods;
  while (stream->Read(&response)) {
    for (const auto& bytes : response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      EXPECT_TRUE(file.ParseFromString(bytes));
      for (const auto& s : file.service()) {
        if (file.package() + "." + s.name() != service) continue;
        for (const auto& m : s.method()) methods.insert(m.name());
      }
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  return methods;
}

}  // namespace testing_support
